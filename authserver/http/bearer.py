"""The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1) at this server's
own endpoints (/userinfo, /register); `authserver.resource.bearer` is the verifier's."""


def bearer_token(header: str | None) -> str | None:
    """The token, or None when the header is missing, of another scheme, or empty."""
    scheme, _, token = (header or "").strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
