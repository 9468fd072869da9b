"""The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1) at this server's
own endpoints (/userinfo, /register); `authserver.resource.bearer` is the verifier's."""

BEARER = "bearer"
DPOP = "dpop"


def bearer_token(header: str | None) -> str | None:
    """The token, or None when the header is missing, of another scheme, or empty."""
    credentials = access_token_credentials(header)
    if credentials is None or credentials[0] != BEARER:
        return None
    return credentials[1]


def access_token_credentials(header: str | None) -> tuple[str, str] | None:
    """(scheme, token) of Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1) credentials, the
    scheme in lower case; None when the header is missing, of another scheme, or empty."""
    scheme, _, token = (header or "").strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    scheme = scheme.lower()
    if scheme not in (BEARER, DPOP) or not token.strip():
        return None
    return scheme, token.strip()
