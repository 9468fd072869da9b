"""ID tokens (OpenID Connect Core §2), signed with the current key of AUTHSERVER_SIGNING_ALG,
or of the client's `id_token_signed_response_alg` (OIDC Registration §2) when it names one.

Their header never says `typ: at+jwt`, so no verifier can take one for an access token
(RFC 9068 §2.1, RFC 8725 §3.11). User claims (`users.claims`) are added only where the
`claims` request parameter asked for them in the id_token (OIDC Core §5.5); they never
replace one of the claims above.
"""

from collections.abc import Mapping

from authlib.oidc.core.util import create_half_hash

from authserver.clock import utcnow
from authserver.errors import InvalidClientError
from authserver.keys.algorithms import Signer
from authserver.tokens.signing import TokenSigner


class IdTokenIssuer(TokenSigner):
    def signer(self, alg: str | None) -> Signer | None:
        """What signs the id_tokens of a client asking for `alg` (None: the server's
        algorithm); None when no key of `alg` signs (see `grants.openid`)."""
        return self._keyring.signer if alg is None else self._keyring.signer_for(alg)

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
        alg: str | None = None,
    ) -> str:
        signer = self.signer(alg)
        if signer is None:
            raise InvalidClientError(description=f"no key signs {alg} id_tokens here")
        now = int(utcnow().timestamp())
        claims: dict[str, object] = {
            **(user_claims or {}),
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": now + self._ttl,
            "iat": now,
            "auth_time": auth_time,
            # OIDC Core §3.1.3.6: the left half of the hash of the access token, by the
            # hash of the id_token's alg (SHA-256; SHA-512 for EdDSA with Ed25519).
            "at_hash": create_half_hash(access_token, signer.alg).decode("ascii"),
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
        return self._sign("JWT", claims, signer)
