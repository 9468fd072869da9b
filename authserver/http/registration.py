"""POST /register (RFC 7591 §3) and GET, PUT, DELETE /register/{client_id} (RFC 7592 §2).

JSON in and out, every answer `Cache-Control: no-store`. A missing or refused bearer token
is 401 `invalid_token` with `WWW-Authenticate: Bearer` (RFC 6750 §3.1: no error code when no
token came). With AUTHSERVER_REGISTRATION=off every path here answers 404 `not_found`.
The work is `authserver.registration.service`'s, in one transaction per request.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.audit import note_event
from authserver.clock import utcnow
from authserver.errors import InvalidTokenError, OAuth2Error, RateLimitedError
from authserver.http.bearer import bearer_token
from authserver.http.dependencies import AppServices
from authserver.oauth import NO_STORE, error_response, json_response
from authserver.registration import service
from authserver.registration.documents import MAX_DOCUMENT_BYTES, MetadataDocument
from authserver.services import Services

router = APIRouter()

Work = Callable[[Session], dict[str, Any] | None]


@router.post("/register")
async def register(request: Request, services: AppServices) -> Response:
    if services.settings.registration == "off":
        return _turned_off()
    address = request.client.host if request.client else "unknown"
    wait = services.registration_rate_limit.retry_after(address, "register")
    if wait is not None:
        note_event("rate_limit.exceeded", endpoint="register")
        return error_response(RateLimitedError(retry_after=wait))
    token = bearer_token(request.headers.get("authorization"))
    document = await _document(request)
    settings = services.settings
    return await run_in_threadpool(
        _answer,
        services,
        token,
        201,
        lambda db: service.register(db, settings, token, document, utcnow()),
    )


@router.api_route("/register/{client_id}", methods=["GET", "PUT", "DELETE"])
async def manage(client_id: str, request: Request, services: AppServices) -> Response:
    """Read, update, delete (RFC 7592 §2.1-2.3): one route, so that a 405 names all three."""
    if services.settings.registration == "off":
        return _turned_off()
    token = bearer_token(request.headers.get("authorization"))
    settings = services.settings
    work: Work
    if request.method == "GET":
        status, work = 200, lambda db: service.read(db, settings, client_id, token)
    elif request.method == "PUT":
        document = await _document(request)
        status, work = (
            200,
            lambda db: service.update(db, settings, client_id, token, document, utcnow()),
        )
    else:
        status, work = 204, lambda db: service.delete(db, client_id, token)
    response = await run_in_threadpool(_answer, services, token, status, work)
    # After the commit: this process sees the change at once, others within the cache TTL.
    services.clients.forget(client_id)
    return response


async def _document(request: Request) -> MetadataDocument:
    """The body as it came, read no further than MAX_DOCUMENT_BYTES: judged (and a larger
    one refused) only once the caller is known to be allowed."""
    content_type = request.headers.get("content-type")
    declared = request.headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_DOCUMENT_BYTES:
        return MetadataDocument(content_type, b"", too_large=True)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            return MetadataDocument(content_type, b"", too_large=True)
    return MetadataDocument(content_type, body)


def _answer(services: Services, token: str | None, status: int, work: Work) -> Response:
    try:
        with services.database.transaction() as db:
            body = work(db)
    except InvalidTokenError as error:
        response = error_response(error)
        # RFC 6750 §3.1: the challenge names the error only when a token came.
        response.headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token"' if token is not None else "Bearer"
        )
        return response
    except OAuth2Error as error:
        return error_response(error)
    if body is None:
        return Response(status_code=status, headers=NO_STORE)
    return json_response(status, body)


def _turned_off() -> Response:
    body = {"error": "not_found", "error_description": "Client registration is turned off."}
    return json_response(404, body)
