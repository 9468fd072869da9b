"""Private keys at rest: sealed with the passphrase by scrypt and AES-256-GCM.

A sealed key is a small JSON document; both key stores keep it as it is:

    {"format": "authserver-sealed-key", "version": 1, "kid": "...",
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": "<16 bytes>"},
     "cipher": "A256GCM", "nonce": "<12 bytes>", "ciphertext": "<PKCS#8 PEM + tag>"}

- scrypt with N = 2^17, r = 8, p = 1 (128 MiB, about 0.3 s here): OWASP's minimum for
  scrypt; a fresh 16-byte salt per key, so each key costs a guesser the full work.
- AES-256-GCM with a fresh 96-bit nonce; the authenticated data binds the ciphertext to
  its `kid`, so sealed keys cannot be swapped between rows or files unnoticed.
- The parameters are read back from the document (so they can be raised later) but
  must lie within bounds: a weakened or absurd document is refused, never opened.
"""

import base64
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from authserver.errors import KeyStoreError

FORMAT = "authserver-sealed-key"


@dataclass(frozen=True)
class ScryptCost:
    n: int = 2**17
    r: int = 8
    p: int = 1


DEFAULT_COST = ScryptCost()
_MIN_N, _MAX_N = 2**15, 2**22
_MAX_R, _MAX_P = 32, 16


def seal(private_pem: bytes, kid: str, passphrase: str, cost: ScryptCost = DEFAULT_COST) -> str:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, cost)
    ciphertext = AESGCM(key).encrypt(nonce, private_pem, _associated_data(kid))
    document = {
        "format": FORMAT,
        "version": 1,
        "kid": kid,
        "kdf": {"name": "scrypt", "n": cost.n, "r": cost.r, "p": cost.p, "salt": _b64(salt)},
        "cipher": "A256GCM",
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    return json.dumps(document, separators=(",", ":"))


def is_sealed(stored: str | bytes) -> bool:
    head = stored[:64] if isinstance(stored, str) else stored[:64].decode("latin-1")
    return head.lstrip().startswith("{") and FORMAT in head


def unseal(sealed: str | bytes, kid: str, passphrase: str) -> bytes:
    """The PKCS#8 PEM of the key named `kid`; KeyStoreError if it cannot be opened."""
    try:
        document = json.loads(sealed)
        kdf = document["kdf"]
        cost = ScryptCost(n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"]))
        salt, nonce = _unb64(kdf["salt"]), _unb64(document["nonce"])
        ciphertext = _unb64(document["ciphertext"])
        valid = (
            document["format"] == FORMAT
            and document["version"] == 1
            and document["kid"] == kid
            and kdf["name"] == "scrypt"
            and document["cipher"] == "A256GCM"
            and len(salt) >= 16
            and len(nonce) == 12
        )
    except (ValueError, KeyError, TypeError):
        raise KeyStoreError(f"the sealed key {kid} is damaged") from None
    if not valid or not _acceptable(cost):
        raise KeyStoreError(f"the sealed key {kid} has unexpected parameters")
    try:
        return AESGCM(_derive(passphrase, salt, cost)).decrypt(
            nonce, ciphertext, _associated_data(kid)
        )
    except InvalidTag:
        raise KeyStoreError(f"cannot open key {kid}: wrong passphrase or damaged key") from None


def _acceptable(cost: ScryptCost) -> bool:
    power_of_two = cost.n & (cost.n - 1) == 0
    return (
        power_of_two
        and _MIN_N <= cost.n <= _MAX_N
        and 1 <= cost.r <= _MAX_R
        and 1 <= cost.p <= _MAX_P
    )


def _derive(passphrase: str, salt: bytes, cost: ScryptCost) -> bytes:
    scrypt = Scrypt(salt=salt, length=32, n=cost.n, r=cost.r, p=cost.p)
    return scrypt.derive(passphrase.encode("utf-8"))


def _associated_data(kid: str) -> bytes:
    return f"{FORMAT}:1:{kid}".encode("ascii")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
