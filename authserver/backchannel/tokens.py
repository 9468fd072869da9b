"""Logout Tokens (OpenID Connect Back-Channel Logout 1.0 §2.4), signed like our other JWTs.

`typ: logout+jwt` (§2.4, RFC 8725 §3.11: never mistaken for an id_token or an access
token); claims `iss`, `aud` (the client), `iat`, `exp` (two minutes: it is delivered at
once, and signed again for each retry), `jti`, `sub`, `sid` and the `events` member
that makes it a logout; never `nonce` (§2.4).
"""

import secrets

from authserver.clock import utcnow
from authserver.jose.claims import LOGOUT_EVENT, LOGOUT_TOKEN_TYPE
from authserver.tokens.signing import TokenSigner

LOGOUT_TOKEN_SECONDS = 120


class LogoutTokenIssuer(TokenSigner):
    def issue(self, client_id: str, subject: str | None, sid: str | None) -> str:
        now = int(utcnow().timestamp())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_SECONDS,
            "jti": secrets.token_urlsafe(16),
            "events": {LOGOUT_EVENT: {}},
        }
        if subject is not None:
            claims["sub"] = subject
        if sid is not None:
            claims["sid"] = sid
        return self._sign(LOGOUT_TOKEN_TYPE, claims)
