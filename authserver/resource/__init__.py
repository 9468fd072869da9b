"""Verifying this issuer's access tokens in a resource service (RFC 9068 §4, RFC 8725, RFC 6750),
DPoP-bound ones with their proofs (RFC 9449 §7).

Importable without the server's database or web stack: only the standard library, httpx,
joserfc and cryptography. The token checks are `authserver.jose`'s, the ones the issuer
applies to its own tokens. FastAPI glue lives in `authserver.resource.fastapi`.
"""

from authserver.resource.bearer import bearer_token
from authserver.resource.claims import Claims
from authserver.resource.errors import (
    BearerTokenError,
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    IssuerUnavailable,
)
from authserver.resource.introspection import Introspector
from authserver.resource.logout import InvalidLogoutToken, Logout, LogoutTokenValidator
from authserver.resource.verifier import Verifier

__all__ = [
    "BearerTokenError",
    "Claims",
    "InsufficientScope",
    "Introspector",
    "InvalidDPoPProof",
    "InvalidLogoutToken",
    "InvalidRequest",
    "InvalidToken",
    "IssuerUnavailable",
    "Logout",
    "LogoutTokenValidator",
    "Verifier",
    "bearer_token",
]
