"""Signing our JWTs: RS256 with the key ring's current key, its `kid` in the header."""

from datetime import timedelta

from joserfc import jwt
from joserfc.jws import JWSRegistry

from authserver.keys.keyring import KeyRing

_REGISTRY = JWSRegistry(algorithms=["RS256"])


class TokenSigner:
    """What every issuer of our JWTs shares: the issuer, the key ring and a lifetime."""

    def __init__(self, issuer: str, keyring: KeyRing, ttl: timedelta) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._ttl = int(ttl.total_seconds())

    def _sign(self, typ: str, claims: dict[str, object]) -> str:
        # One read of the key ring: the `kid` in the header is the key that signs.
        key = self._keyring.signing_key
        return jwt.encode(
            {"alg": "RS256", "typ": typ, "kid": key.kid}, claims, key, registry=_REGISTRY
        )
