"""The file key store in AUTHSERVER_KEYS_DIR: one PKCS#8 file per key and a manifest.

    keys/
      keyring.json    the records (kid, state, public JWK, dates), replaced atomically
      key-<kid>.pem   the private key, encrypted with AUTHSERVER_KEYS_PASSPHRASE when set
      .lock           flock(2) target that serialises key creation and rotation

Files are 0600 in a 0700 directory; looser permissions on existing keys stop the server.
"""

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
)
from joserfc.jwk import RSAKey

from authserver.errors import KeyStoreError
from authserver.keys.records import KeyRecord

MANIFEST = "keyring.json"
_PRIVATE_FILE_MODE = 0o600
_DIRECTORY_MODE = 0o700
_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_KEY_PARAMETERS = {"alg": "RS256", "use": "sig"}


class FileKeyStore:
    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self._passphrase = passphrase

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock across processes sharing this directory."""
        self._prepare_directory()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, _PRIVATE_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def manifest_signature(self) -> tuple[int, int, int] | None:
        """Changes whenever the manifest is replaced; None when there is none."""
        try:
            info = (self.directory / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def read_records(self) -> list[KeyRecord]:
        path = self.directory / MANIFEST
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return [KeyRecord.from_json(item) for item in document["keys"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise KeyStoreError(f"cannot read {path}: {type(error).__name__}") from None

    def write_records(self, records: list[KeyRecord]) -> None:
        document = {"version": 1, "keys": [record.to_json() for record in records]}
        self._write_atomically(MANIFEST, json.dumps(document, indent=2).encode("utf-8"))

    def save_private_key(self, key: RSAKey) -> None:
        pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, self._encryption())
        self._write_atomically(f"key-{key.kid}.pem", pem)

    def _encryption(self) -> KeySerializationEncryption:
        # PKCS#8 with cryptography's best available scheme (PBES2, AES-256-CBC). Its KDF
        # rounds are not adjustable for PKCS#8: use a long random passphrase (docs/keys.md).
        if self._passphrase is None:
            return NoEncryption()
        return BestAvailableEncryption(self._passphrase.encode("utf-8"))

    def load_private_key(self, kid: str) -> RSAKey:
        """Parse (and validate) one private key; callers keep the result, it costs ~50 ms."""
        path = self.directory / f"key-{kid}.pem"
        self.check_permissions(path)
        pem = path.read_bytes()
        encrypted = pem.startswith(_ENCRYPTED_PEM)
        if encrypted and self._passphrase is None:
            raise KeyStoreError(f"{path.name} is encrypted: set AUTHSERVER_KEYS_PASSPHRASE")
        if not encrypted and self._passphrase is not None:
            raise KeyStoreError(
                f"{path.name} is not encrypted but AUTHSERVER_KEYS_PASSPHRASE is set; "
                "refusing a key stored in the clear"
            )
        try:
            key = RSAKey.import_key(
                pem, _KEY_PARAMETERS, password=self._passphrase if encrypted else None
            )
        except (ValueError, TypeError):
            raise KeyStoreError(
                f"cannot load {path.name}: wrong passphrase or damaged file"
            ) from None
        if key.thumbprint() != kid:
            raise KeyStoreError(f"{path.name} does not hold the key its name says")
        key.ensure_kid()
        return key

    def delete_private_key(self, kid: str) -> None:
        (self.directory / f"key-{kid}.pem").unlink(missing_ok=True)

    def check_permissions(self, path: Path | None = None) -> None:
        for target, allowed in ((self.directory, _DIRECTORY_MODE), (path, _PRIVATE_FILE_MODE)):
            if target is None:
                continue
            mode = stat.S_IMODE(target.stat().st_mode)
            if mode & ~allowed & 0o077:
                raise KeyStoreError(
                    f"{target} has mode {mode:04o}; refusing to use keys that others can read "
                    f"(chmod {allowed:o} {target})"
                )

    def _prepare_directory(self) -> None:
        """Create the directory 0700; tighten a fresh one (e.g. a git checkout's keys/)."""
        self.directory.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
        if not any(self.directory.glob("key-*.pem")):
            os.chmod(self.directory, _DIRECTORY_MODE)
        self.check_permissions()

    def _write_atomically(self, name: str, content: bytes) -> None:
        temporary = self.directory / f".{name}.tmp"
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / name)
