"""Signing our JWTs: RS256 with the key ring's current key, its `kid` in the header.

The compact serialization (RFC 7515 §7.1) is written here rather than by joserfc's
`jwt.encode`: for our own tokens, whose header and claims we build ourselves, the
generic path (header registry checks, claim conversion, key lookups) cost as much as a
fifth of the signature itself on the token endpoint. The header segment is computed
once per key and `typ`; the claims are serialized with orjson. Verification stays with
joserfc and our one validator (`tokens.verification`, `authserver.resource`).
"""

import base64
from datetime import timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from authserver.keys.keyring import KeyRing

_PADDING = PKCS1v15()
_HASH = SHA256()


class TokenSigner:
    """What every issuer of our JWTs shares: the issuer, the key ring and a lifetime."""

    def __init__(self, issuer: str, keyring: KeyRing, ttl: timedelta) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._ttl = int(ttl.total_seconds())
        self._headers: dict[tuple[str, str], bytes] = {}

    def _sign(self, typ: str, claims: dict[str, object]) -> str:
        # One read of the key ring: the `kid` in the header is the key that signs.
        key = self._keyring.signing_key
        header = self._headers.get((key.kid, typ)) or self._header(key.kid, typ)  # type: ignore[arg-type]
        signing_input = header + b"." + _b64(orjson.dumps(claims))
        signature = key.private_key.sign(signing_input, _PADDING, _HASH)  # type: ignore[union-attr]
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def _header(self, kid: str, typ: str) -> bytes:
        segment = _b64(orjson.dumps({"typ": typ, "alg": "RS256", "kid": kid}))
        self._headers[(kid, typ)] = segment
        return segment


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")
