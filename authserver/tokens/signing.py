"""Signing our JWTs with the key ring's current key of the algorithm in use, its `kid` and
`alg` in the header: RS256, PS256, ES256 or EdDSA (`keys.algorithms`).

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

from authserver.keys.algorithms import Signer
from authserver.keys.keyring import KeyRing


class TokenSigner:
    """What every issuer of our JWTs shares: the issuer, the key ring and a lifetime."""

    def __init__(self, issuer: str, keyring: KeyRing, ttl: timedelta) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._ttl = int(ttl.total_seconds())
        self._headers: dict[tuple[str, str], bytes] = {}

    def _sign(self, typ: str, claims: dict[str, object], signer: Signer | None = None) -> str:
        """`claims` as a JWS of `typ`, signed by `signer` (by default AUTHSERVER_SIGNING_ALG's
        current key: one read of the key ring, so the header names the key that signs)."""
        signer = signer or self._keyring.signer
        header = self._headers.get((signer.kid, typ)) or self._header(signer, typ)
        signing_input = header + b"." + _b64(orjson.dumps(claims))
        return (signing_input + b"." + _b64(signer.sign(signing_input))).decode("ascii")

    def _header(self, signer: Signer, typ: str) -> bytes:
        # RFC 7515 §4.1.1: `alg` is the key's own; a kid names one key, so one alg.
        segment = _b64(orjson.dumps({"typ": typ, "alg": signer.alg, "kid": signer.kid}))
        self._headers[(signer.kid, typ)] = segment
        return segment


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")
