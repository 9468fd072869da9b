"""ID tokens (OpenID Connect Core §2), signed RS256 with the current key.

Their header never says `typ: at+jwt`, so no verifier can take one for an access token
(RFC 9068 §2.1, RFC 8725 §3.11). User claims (`users.claims`) are added only where the
`claims` request parameter asked for them in the id_token (OIDC Core §5.5); they never
replace one of the claims above.
"""

from collections.abc import Mapping

from authlib.oidc.core.util import create_half_hash

from authserver.clock import utcnow
from authserver.tokens.signing import TokenSigner


class IdTokenIssuer(TokenSigner):
    def issue(
        self,
        *,
        client_id: str,
        subject: str,
        auth_time: int,
        sid: str | None,
        nonce: str | None,
        access_token: str,
        user_claims: Mapping[str, object] | None = None,
        amr: list[str] | None = None,
        acr: str | None = None,
    ) -> str:
        now = int(utcnow().timestamp())
        claims: dict[str, object] = {
            **(user_claims or {}),
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": now + self._ttl,
            "iat": now,
            "auth_time": auth_time,
            # OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token.
            "at_hash": create_half_hash(access_token, "RS256").decode("ascii"),
        }
        if nonce:
            claims["nonce"] = nonce
        if sid:
            claims["sid"] = sid
        # OIDC Core §2: how the user signed in (RFC 8176), and the level it meets when
        # the request asked (factors/policy.py).
        if amr:
            claims["amr"] = amr
        if acr:
            claims["acr"] = acr
        return self._sign("JWT", claims)
