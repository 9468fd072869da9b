"""JWT access tokens (RFC 9068), signed with the current key of AUTHSERVER_SIGNING_ALG."""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from authserver.clock import utcnow
from authserver.jose.claims import ACCESS_TOKEN_TYPE
from authserver.statuslists.allocation import StatusReference
from authserver.tokens.signing import TokenSigner


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_in: int
    jti: str


class AccessTokenIssuer(TokenSigner):
    def issue(
        self,
        *,
        client_id: str,
        subject: str,
        audience: str | list[str],
        scope: str,
        extra: Mapping[str, object] | None = None,
        status: StatusReference | None = None,
        not_after: int | None = None,
    ) -> IssuedAccessToken:
        """Sign a token with the RFC 9068 §2.2 claims; `scope` is omitted when empty;
        `status` names the token's status-list entry (draft-ietf-oauth-status-list §6.1).

        `extra` adds claims of a user's grant: `auth_time` (RFC 9068 §2.2.1), `sid` (the
        sign-in session) and `fid` (the token family, so that revoking it revokes this).
        `not_after` caps `exp` (an exchanged token never outlives its subject token).
        """
        now = int(utcnow().timestamp())
        expires_in = self._ttl if not_after is None else max(0, min(self._ttl, not_after - now))
        jti = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + expires_in,
            "iat": now,
            "jti": jti,
            "client_id": client_id,
        }
        if scope:
            claims["scope"] = scope
        if extra:
            claims.update(extra)
        if status is not None:
            claims["status"] = status.claim(self.issuer)
        token = self._sign(ACCESS_TOKEN_TYPE, claims)
        return IssuedAccessToken(token=token, expires_in=expires_in, jti=jti)
