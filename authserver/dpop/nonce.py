"""Server-provided DPoP nonces (RFC 9449 §8, §9, §11.2): stateless, and the same on every
replica of a deployment.

A nonce is the base64url HMAC-SHA256, under the deployment's nonce key, of the number of
the current time window. One is accepted during its window and the next, so a client
that keeps the last nonce it was sent (every DPoP response carries a fresh one, §8.2)
always holds a valid one, and a proof made more than two windows ahead of its use (§11.2:
pre-generated) is refused. Nothing is stored; the nonces are unpredictable without the
key (§8: "Nonce values MUST be unpredictable").

The key is derived from AUTHSERVER_KEYS_PASSPHRASE by scrypt (every replica derives the
same one; a nonce, which is public, costs a guesser of the passphrase as much as a sealed
signing key does), or, without a passphrase (development mode only), drawn at random per
process: then a nonce is valid only on the process that issued it.
"""

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_CONTEXT = b"authserver dpop nonce v1\x00"
_NONCE_BYTES = 24


class NonceSource:
    def __init__(self, key: bytes, window: int) -> None:
        if len(key) < 32 or window < 1:
            raise ValueError("a nonce key has at least 32 bytes, a window at least 1 second")
        self._key = key
        self.window = window

    @classmethod
    def from_passphrase(cls, passphrase: str, issuer: str, window: int) -> "NonceSource":
        """The deployment's key: scrypt (N = 2^17, r = 8, as for sealed keys) of the
        passphrase, salted with the issuer so that deployments never share nonces."""
        kdf = Scrypt(salt=_CONTEXT + issuer.encode("utf-8"), length=32, n=2**17, r=8, p=1)
        return cls(kdf.derive(passphrase.encode("utf-8")), window)

    @classmethod
    def random(cls, window: int) -> "NonceSource":
        """A key of this process only (development without a passphrase)."""
        return cls(os.urandom(32), window)

    def issue(self, now: int) -> str:
        """The nonce of the current window (§8.1: base64url characters are NQCHARs)."""
        return self._nonce(now // self.window)

    def valid(self, nonce: str, now: int) -> bool:
        """Whether `nonce` is this window's or the previous one's."""
        current = now // self.window
        encoded = nonce.encode("ascii", errors="replace")
        return any(
            hmac.compare_digest(encoded, self._nonce(number).encode("ascii"))
            for number in (current, current - 1)
        )

    def _nonce(self, number: int) -> str:
        message = _CONTEXT + number.to_bytes(8, "big", signed=True)
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:_NONCE_BYTES]
        return base64.urlsafe_b64encode(digest).decode("ascii")
