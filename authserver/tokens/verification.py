"""Verifying JWTs that come back to us: bearer access tokens and `id_token_hint`.

The checks are `authserver.jose`'s, the same a resource service applies: a key of ours
chosen by `kid` among the published keys (never a key named or carried by the token),
used with the one alg it is published with (RS256, PS256, ES256 or EdDSA, RFC 8725
§3.1), canonical base64url, no duplicate JSON members, at most 8 KiB, `iss` exact,
integer dates, and the `typ` that tells an access token (RFC 9068 §2.1, `at+jwt`) from
an id_token (`JWT`), so neither is accepted as the other (RFC 8725 §3.11). Our own
tokens, judged by our own clock: `exp` is exact (as at introspection, and as the deny
list is purged); a future `iat`/`nbf` gets AUTHSERVER_JWT_LEEWAY, for replica skew.
Every audience is accepted: these are the issuer's own endpoints (CONTRACT.md).
"""

from functools import lru_cache
from typing import Any, Literal

from authserver.jose import JwtRules, JwtValidator
from authserver.jose.claims import ACCESS_TOKEN_CLAIMS, ACCESS_TOKEN_TYPE, ID_TOKEN_CLAIMS
from authserver.keys.algorithms import SIGNING_ALGORITHMS
from authserver.keys.keyring import KeyRing
from authserver.settings import Settings

TokenKind = Literal["access_token", "id_token"]

_TYPES: dict[TokenKind, tuple[str, frozenset[str]]] = {
    "access_token": (ACCESS_TOKEN_TYPE, ACCESS_TOKEN_CLAIMS),
    "id_token": ("jwt", ID_TOKEN_CLAIMS),
}


def verify_jwt(
    token: str,
    keyring: KeyRing,
    settings: Settings,
    kind: TokenKind,
    now: int,
    *,
    allow_expired: bool = False,
) -> dict[str, Any]:
    """The claims of one of our tokens of that kind, or `JwtRejected` (says why)."""
    leeway = int(settings.jwt_leeway.total_seconds())
    validator = _validator(settings.issuer, kind, leeway, not allow_expired)
    return validator.validate(token, keyring.verification_key, now)


@lru_cache(maxsize=32)
def _validator(issuer: str, kind: TokenKind, leeway: int, check_expiry: bool) -> JwtValidator:
    typ, required = _TYPES[kind]
    rules = JwtRules(
        typ=typ,
        issuer=issuer,
        algorithms=frozenset(SIGNING_ALGORITHMS),
        required=required,
        leeway=leeway,
        check_expiry=check_expiry,
    )
    return JwtValidator(rules)
