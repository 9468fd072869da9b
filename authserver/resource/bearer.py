"""The access token of a request's `Authorization` header, for any framework: Bearer
(RFC 6750 §2.1) or DPoP (RFC 9449 §7.1)."""

import re
from collections.abc import Sequence

from authserver.resource.errors import InvalidRequest, InvalidToken

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(authorization: Sequence[str]) -> str | None:
    """The token of the request's `Authorization` header values; None when there is none.

    None (no Bearer credentials at all) is answered with a bare `WWW-Authenticate: Bearer`
    challenge, without an error code (RFC 6750 §3.1). Two headers, or Bearer credentials
    that are not one b64token, are a malformed request (RFC 6750 §3.1 `invalid_request`).
    """
    if len(authorization) > 1:
        raise InvalidRequest("the request has more than one Authorization header")
    if not authorization:
        return None
    scheme, _, token = authorization[0].strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer":
        return None
    token = token.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("the Authorization header is not Bearer and one token")
    return token


def access_token_credentials(authorization: Sequence[str]) -> tuple[str, str] | None:
    """(scheme, token) of the request's `Authorization` header values, the scheme `bearer`
    or `dpop` (lower case); None when there are no such credentials.

    RFC 9449 §7.1: DPoP credentials are `DPoP` and one token68, the syntax of RFC 6750's
    b64token. Two headers, or credentials that are not one token, are a malformed request.
    """
    if len(authorization) > 1:
        raise InvalidRequest("the request has more than one Authorization header")
    if not authorization:
        return None
    scheme, _, token = authorization[0].strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop"):
        return None
    token = token.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("the Authorization header is not Bearer or DPoP and one token")
    return scheme, token


def check_bearer_syntax(token: str) -> None:
    if not _B64TOKEN.fullmatch(token):
        raise InvalidToken("the token is not a bearer token (RFC 6750 b64token)")
