"""JWT access tokens (RFC 9068), signed RS256 with the current key of the key ring."""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from joserfc import jwt
from joserfc.jws import JWSRegistry

from authserver.clock import utcnow
from authserver.keys.keyring import KeyRing

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 §2.1, a media type
_REGISTRY = JWSRegistry(algorithms=["RS256"])


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_in: int
    jti: str
    expires_at: int


class AccessTokenIssuer:
    def __init__(self, issuer: str, keyring: KeyRing, ttl: timedelta) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._ttl = int(ttl.total_seconds())

    def issue(
        self,
        *,
        client_id: str,
        subject: str,
        audience: str | list[str],
        scope: str,
        extra: Mapping[str, object] | None = None,
    ) -> IssuedAccessToken:
        """Sign a token with the RFC 9068 §2.2 claims; `scope` is omitted when empty.

        `extra` adds claims of a user's grant: `auth_time` (RFC 9068 §2.2.1), `sid` (the
        sign-in session) and `fid` (the token family, so that revoking it revokes this).
        """
        now = int(utcnow().timestamp())
        jti = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + self._ttl,
            "iat": now,
            "jti": jti,
            "client_id": client_id,
        }
        if scope:
            claims["scope"] = scope
        if extra:
            claims.update(extra)
        key = self._keyring.signing_key
        header = {"alg": "RS256", "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}
        token = jwt.encode(header, claims, key, registry=_REGISTRY)
        return IssuedAccessToken(
            token=token, expires_in=self._ttl, jti=jti, expires_at=now + self._ttl
        )
