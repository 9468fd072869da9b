"""Small secrets at rest (a TOTP secret, an upstream client secret): AES-256-GCM under a
key derived once per process from AUTHSERVER_KEYS_PASSPHRASE by scrypt.

A sealed value is `s1.` and the base64url of a fresh 96-bit nonce and the ciphertext with
its tag. The authenticated data is the value's `context` (say `totp:42`), so a sealed
value copied to another row does not open there. Without a passphrase (development mode
only: production requires one) the key is derived from an empty one, which hides nothing
from a reader of the database: it keeps the format, not the secret.
"""

import base64
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_PREFIX = "s1."
_SALT = b"authserver sealed secrets v1"
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that does not open: damaged, moved, or sealed under another key."""


class Sealer:
    def __init__(self, passphrase: str | None) -> None:
        self._passphrase = passphrase or ""
        self._key: AESGCM | None = None
        self._lock = threading.Lock()

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead().encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise SealError("not a sealed value")
        body = sealed[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise SealError("not a sealed value") from None
        if len(raw) <= _NONCE_BYTES + 16:
            raise SealError("not a sealed value")
        nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            plaintext = self._aead().decrypt(nonce, ciphertext, context.encode("utf-8"))
        except InvalidTag:
            raise SealError("the sealed value does not open with this passphrase") from None
        return plaintext.decode("utf-8")

    def _aead(self) -> AESGCM:
        """scrypt (N = 2^15, r = 8: 32 MiB) once per process, on first use."""
        with self._lock:
            if self._key is None:
                kdf = Scrypt(salt=_SALT, length=32, n=2**15, r=8, p=1)
                self._key = AESGCM(kdf.derive(self._passphrase.encode("utf-8")))
            return self._key
