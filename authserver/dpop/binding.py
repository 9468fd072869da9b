"""What binds a token to a DPoP key: the key's thumbprint in `cnf.jkt` (RFC 9449 §6.1,
§6.2) and the token's hash in a proof's `ath` (§4.2)."""

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from authserver.jose import JwtRejected

# RFC 9449 §12.1: the access token type, and the HTTP authentication scheme, of a
# DPoP-bound token.
DPOP_TOKEN_TYPE = "DPoP"  # noqa: S105 - a token type's name, no secret


def access_token_hash(token: str) -> str:
    """§4.2 `ath`: base64url SHA-256 of the ASCII access token."""
    digest = hashlib.sha256(token.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def confirmation(jkt: str) -> dict[str, str]:
    """§6.1: the `cnf` claim of a token bound to the key of thumbprint `jkt`."""
    return {"jkt": jkt}


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint a token's claims (or its introspection answer, §6.2) bind it to;
    None for a token without `cnf`. JwtRejected for a `cnf` without a string `jkt`: a
    confirmation this code cannot check must never pass as no confirmation at all."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if not isinstance(jkt, str) or not jkt:
        raise JwtRejected("the token's cnf has no jkt")
    return jkt
