"""Client authentication at the token endpoint (RFC 6749 §2.3.1).

Unknown clients and wrong secrets fail alike, after the same work, so an attacker
cannot learn which client_ids exist.
"""

import base64
import binascii
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import OAuth2Request

from authserver.clients.models import Client
from authserver.clients.secrets import verify_client_secret
from authserver.errors import InvalidClientError, InvalidRequestError


@dataclass(frozen=True)
class Credentials:
    method: str
    client_id: str
    client_secret: str


def authenticate_client(
    request: OAuth2Request,
    methods: Collection[str],
    find_client: Callable[[str], Client | None],
    endpoint: str = "token",
) -> Client:
    credentials = read_credentials(request)
    if credentials.method not in methods:
        raise _failed()
    client = find_client(credentials.client_id)
    if credentials.method == "none":
        # RFC 6749 §2.1: a public client has no secret and only identifies itself.
        if client is None or not client.check_endpoint_auth_method("none", endpoint):
            raise _failed()
        request.auth_method = "none"
        return client
    secret_hash = client.secret_hash if client is not None else None
    if not verify_client_secret(credentials.client_secret, secret_hash) or client is None:
        raise _failed()
    if not client.check_endpoint_auth_method(credentials.method, endpoint):
        raise _failed()
    request.auth_method = credentials.method
    return client


def read_credentials(request: OAuth2Request) -> Credentials:
    """Credentials from HTTP Basic or the body, never both (RFC 6749 §2.3)."""
    form = request.payload.data
    basic = parse_basic_authorization(request.headers.get("authorization"))
    if basic is not None:
        if "client_secret" in form or form.get("client_id", basic[0]) != basic[0]:
            raise InvalidRequestError("Use exactly one client authentication method.")
        return Credentials("client_secret_basic", *basic)
    if "client_secret" in form and "client_id" in form:
        return Credentials("client_secret_post", form["client_id"], form["client_secret"])
    if "client_id" in form:
        return Credentials("none", form["client_id"], "")
    raise InvalidClientError(status_code=401, description="Client authentication is required.")


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic`, None for other schemes."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        client_id, separator, client_secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        client_id = unquote_plus(client_id, errors="strict")
        client_secret = unquote_plus(client_secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _failed() from None
    if not separator or not client_id or not client_secret:
        raise _failed()
    return client_id, client_secret


def _failed() -> InvalidClientError:
    return InvalidClientError(status_code=401, description="Client authentication failed.")
