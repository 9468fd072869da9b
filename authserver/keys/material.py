"""A private key as a key store keeps it: sealed with the passphrase, or PEM without one.

Both stores use the same two functions, so the rules are the same everywhere:
- with AUTHSERVER_KEYS_PASSPHRASE a key is sealed (`sealing`); without it (development
  mode) it is a plain PKCS#8 PEM;
- a sealed key without the passphrase, or a plain key with one, is refused with a
  clear error (a passphrase that protects nothing would be a false comfort);
- an encrypted PKCS#8 PEM of the first file store (PBES2 with cryptography's few KDF
  rounds) still opens, so that it can be re-sealed (`FileKeyStore.upgrade_legacy_keys`).
"""

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from authserver.errors import KeyStoreError
from authserver.keys.algorithms import PrivateJwk, labelled, natural_algorithm
from authserver.keys.sealing import is_sealed, seal, unseal

LEGACY_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def protect(key: PrivateJwk, passphrase: str | None) -> str:
    """The text to store for `key`."""
    pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return pem.decode("ascii") if passphrase is None else seal(pem, key.thumbprint(), passphrase)


def recover(stored: str | bytes, kid: str, passphrase: str | None, where: str) -> PrivateJwk:
    """The key `kid` from its stored text; `where` names it in errors (a file, a row).

    Any key type the store holds (RSA, EC P-256, Ed25519), labelled with the alg of its
    type (RS256 for RSA: the key ring labels a PS256 key again from its record)."""
    raw = stored.encode("utf-8") if isinstance(stored, str) else stored
    if is_sealed(raw):
        if passphrase is None:
            raise KeyStoreError(f"{where} is encrypted: set AUTHSERVER_KEYS_PASSPHRASE")
        return _import(unseal(raw, kid, passphrase), None, kid, where)
    if raw.startswith(LEGACY_ENCRYPTED_PEM):
        if passphrase is None:
            raise KeyStoreError(f"{where} is encrypted: set AUTHSERVER_KEYS_PASSPHRASE")
        return _import(raw, passphrase, kid, where)
    if passphrase is not None:
        raise KeyStoreError(
            f"{where} is not encrypted but AUTHSERVER_KEYS_PASSPHRASE is set; "
            "refusing a key stored in the clear"
        )
    return _import(raw, None, kid, where)


def is_legacy_encrypted(stored: bytes) -> bool:
    return stored.startswith(LEGACY_ENCRYPTED_PEM)


def _import(pem: bytes, password: str | None, kid: str, where: str) -> PrivateJwk:
    try:
        private_key = load_pem_private_key(pem, password.encode() if password else None)
        key = labelled(private_key, natural_algorithm(private_key))
    except (ValueError, TypeError, StopIteration):
        raise KeyStoreError(f"cannot load {where}: wrong passphrase or damaged key") from None
    if key.kid != kid:
        raise KeyStoreError(f"{where} does not hold the key its name says")
    return key
