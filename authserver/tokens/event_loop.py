"""The two hottest storage paths, answered on the event loop for a client held in memory:
introspecting a JWT access token (RFC 7662; `authserver.loop_reads`, either database) and
rotating a refresh token (RFC 6749 §6, RFC 9700 §4.14.2; PostgreSQL, `authserver.async_db`).

Each does its I/O first, on the event loop, then runs Authlib's endpoint or grant just
as the thread path does, with that I/O's answer and no session. The rules stay where
they are: `tokens.validity` decides a token's state, `ROTATE_IN_ONE_STATEMENT`
(tokens/repository.py) a rotation, and the grant everything else.

- Introspection: the client authenticated first (nothing is read for a stranger), the
  token verified in memory, its state read in one read.
- Refresh, the common case only (`rotates_at_once`: no narrowing, a rotating client, no
  DPoP proof to record): the rotation statement alone, in one round trip and its own
  transaction (the statement locks, checks every rule, consumes and mints atomically),
  then the grant's answer built in memory. Its `token.issued` audit row goes to the
  process's `AuditBuffer`, as a client_credentials token's does: stored with the next
  batch, at most AUTHSERVER_AUDIT_FLUSH_INTERVAL later. Anything but a rotation (no such
  token, reuse, expiry, a revoked family, the grace rule...) changed nothing and is
  handed to the thread path, which decides it in its transaction as before. An answer
  other than a 200 (only an unexpected error can give one once the statement rotated)
  undoes the rotation (`UNDO_ROTATION`) before the thread path or the 500. The client
  is authenticated (and rate-limited) once either way.
"""

import logging
from typing import Any

from starlette.responses import Response

from authserver.async_db import AsyncDatabase
from authserver.clock import utcnow
from authserver.errors import OAuth2Error
from authserver.grants.refresh_token import (
    MAX_TOKEN_LENGTH,
    RefreshTokenGrant,
    presented_token,
    rotates_at_once,
    rotation_of,
)
from authserver.loop_reads import LoopReads
from authserver.oauth import AuthorizationServer, FormRequest, unexpected_error_response
from authserver.opaque import opaque_hash
from authserver.profiles.fapi2 import dpop_required
from authserver.tokens.endpoints import IntrospectionEndpoint
from authserver.tokens.lookup import find_access_token_on_loop
from authserver.tokens.repository import (
    ROTATE_IN_ONE_STATEMENT,
    UNDO_ROTATION,
    rotation_from_row,
)

log = logging.getLogger(__name__)


async def introspect_on_loop(
    server: AuthorizationServer, request: FormRequest, database: LoopReads
) -> Response:
    """/introspect of a JWT access token by a client held in memory."""
    endpoint = IntrospectionEndpoint
    try:
        try:
            request.authenticated_client = server.authenticate_client(
                request, endpoint.CLIENT_AUTH_METHODS, endpoint.ENDPOINT_NAME
            )
        except OAuth2Error as error:
            return server.handle_error_response(request, error)
        value = request.form["token"]
        found = await find_access_token_on_loop(
            database, server.keyring, server.settings, value, utcnow()
        )
        request.prefetched_token = (value, found)
        return server.create_endpoint_response(endpoint.ENDPOINT_NAME, request)
    except Exception as error:  # noqa: BLE001 - a fixed 500, or 503 when storage is down
        return unexpected_error_response(endpoint.ENDPOINT_NAME, error)


async def refresh_on_loop(
    server: AuthorizationServer, request: FormRequest, database: AsyncDatabase
) -> Response | None:
    """A refresh token grant without a DPoP proof, by a client held in memory: its
    answer, or None for the thread path (`server.token_response`) to decide it."""
    try:
        client = server.authenticate_client(request, RefreshTokenGrant.TOKEN_ENDPOINT_AUTH_METHODS)
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    request.authenticated_client = client
    token = request.form.get("refresh_token")
    if (
        not token
        or len(token) > MAX_TOKEN_LENGTH
        or not client.check_grant_type(RefreshTokenGrant.GRANT_TYPE)
        or dpop_required(client, server.settings)
        or not rotates_at_once(request, client, server.settings)
        or not server.statuses.ready()
    ):
        return None
    request.status = status = server.statuses.take()
    try:
        successor, parameters = rotation_of(
            server.settings, opaque_hash(token), client.client_id, status, None
        )
        return await _rotate(server, request, database, successor, parameters)
    except Exception as error:  # noqa: BLE001 - a fixed 500, or 503 when storage is down
        return unexpected_error_response("token", error)


async def _rotate(
    server: AuthorizationServer,
    request: FormRequest,
    database: AsyncDatabase,
    successor: str,
    parameters: dict[str, Any],
) -> Response | None:
    """The rotation statement, its own transaction; then the grant's answer, or, if that
    is not a 200, the rotation undone and the request handed to the thread path."""
    row = await database.first(ROTATE_IN_ONE_STATEMENT, parameters)
    rotation = None if row is None else rotation_from_row(row)
    if rotation is None or not rotation.rotated:
        return None  # nothing changed
    request.prefetched_refresh = presented_token(rotation, successor)
    request.status_recorded = True  # the statement assigned its status index
    request.deferred_audit = []
    try:
        response = server.create_token_response(request)
    except BaseException:
        await _undo(database, parameters)
        raise
    if response.status_code != 200:
        _forget_rotation(request)
        await _undo(database, parameters)
        return None
    server.audit.enqueue(request.deferred_audit)
    return response


async def _undo(database: AsyncDatabase, parameters: dict[str, Any]) -> None:
    try:
        await database.first(UNDO_ROTATION, parameters)
    except Exception:
        log.error("a rotation whose answer failed could not be undone", exc_info=True)


def _forget_rotation(request: FormRequest) -> None:
    request.prefetched_refresh = None
    request.status_recorded = False
    request.deferred_audit = None
