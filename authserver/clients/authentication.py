"""Client authentication at the token endpoint and every endpoint that authenticates
clients (RFC 6749 §2.3.1, RFC 7523 §2.2).

Unknown clients and wrong secrets fail alike, after the same work, so an attacker
cannot learn which client_ids exist. A client assertion that fails gets the same
answer whichever check refused it; the reason goes to the debug log.

An endpoint names the methods it takes (Authlib's `CLIENT_AUTH_METHODS`); wherever it
takes a secret it takes `private_key_jwt` too (OIDC Core §9: the method is the client's
choice at registration, `Client.check_endpoint_auth_method`).
"""

import base64
import binascii
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import OAuth2Request

from authserver.clients.assertions import JWT_BEARER, ClientAssertion, read_assertion
from authserver.clients.models import CONFIDENTIAL_AUTH_METHODS, PRIVATE_KEY_JWT, Client
from authserver.clients.secrets import verify_client_secret
from authserver.errors import InvalidClientError, InvalidRequestError
from authserver.jose import JwtRejected

log = logging.getLogger(__name__)

# Checks a client assertion for its client on this request; raises JwtRejected.
AssertionCheck = Callable[[ClientAssertion, Client, OAuth2Request], None]


@dataclass(frozen=True)
class Credentials:
    method: str
    client_id: str
    client_secret: str
    assertion: ClientAssertion | None = None


def authenticate_client(
    request: OAuth2Request,
    methods: Collection[str],
    find_client: Callable[[str], Client | None],
    endpoint: str = "token",
    check_assertion: AssertionCheck | None = None,
) -> Client:
    credentials = read_credentials(request)
    if not accepts(credentials.method, methods):
        raise _failed()
    client = find_client(credentials.client_id)
    if credentials.assertion is not None:
        return _by_assertion(request, credentials.assertion, client, endpoint, check_assertion)
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


def accepts(method: str, methods: Collection[str]) -> bool:
    """Whether an endpoint taking `methods` takes `method`: `private_key_jwt` wherever a
    secret method is."""
    if method == PRIVATE_KEY_JWT and any(m in methods for m in CONFIDENTIAL_AUTH_METHODS):
        return True
    return method in methods


def read_credentials(request: OAuth2Request) -> Credentials:
    """Credentials from HTTP Basic, the body or a client assertion, never two of them
    (RFC 6749 §2.3). An assertion is read, not yet verified."""
    form = request.payload.data
    basic = parse_basic_authorization(request.headers.get("authorization"))
    if "client_assertion" in form or "client_assertion_type" in form:
        return _assertion_credentials(form, basic is not None)
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


def _assertion_credentials(form: dict[str, str], with_basic: bool) -> Credentials:
    if with_basic or "client_secret" in form:
        # RFC 6749 §2.3: "MUST NOT use more than one authentication method in each request".
        raise InvalidRequestError("Use exactly one client authentication method.")
    value, kind = form.get("client_assertion"), form.get("client_assertion_type")
    if not value or not kind:
        # RFC 7521 §4.2: both parameters are REQUIRED.
        raise InvalidRequestError("client_assertion and client_assertion_type go together.")
    if kind != JWT_BEARER:
        raise _failed()  # RFC 7523 §2.2: the one assertion type this server understands
    try:
        assertion = read_assertion(value)
    except JwtRejected as error:
        log.debug("client assertion refused: %s", error)
        raise _failed() from None
    if form.get("client_id", assertion.client_id) != assertion.client_id:
        # RFC 7521 §4.2: a client_id sent names the client the assertion names.
        log.debug("client assertion refused: its sub is not the client_id sent")
        raise _failed()
    return Credentials(PRIVATE_KEY_JWT, assertion.client_id, "", assertion)


def _by_assertion(
    request: OAuth2Request,
    assertion: ClientAssertion,
    client: Client | None,
    endpoint: str,
    check_assertion: AssertionCheck | None,
) -> Client:
    # A client registered for private_key_jwt uses nothing else, and a secret client
    # never an assertion (RFC 7591 §2: its registered method).
    if client is None or not client.check_endpoint_auth_method(PRIVATE_KEY_JWT, endpoint):
        log.debug("client assertion refused: no private_key_jwt client %r", assertion.client_id)
        raise _failed()
    if check_assertion is None:
        raise _failed()
    try:
        check_assertion(assertion, client, request)
    except JwtRejected as error:
        log.debug("client assertion of %r refused: %s", client.client_id, error)
        raise _failed() from None
    request.auth_method = PRIVATE_KEY_JWT
    return client


def _failed() -> InvalidClientError:
    return InvalidClientError(status_code=401, description="Client authentication failed.")
