"""Where signing keys live: the `KeyStore` interface, and the file store in AUTHSERVER_KEYS_DIR.

    keys/
      keyring.json        the records (kid, state, public JWK, dates), replaced atomically
      key-<kid>.sealed    the private key sealed with AUTHSERVER_KEYS_PASSPHRASE (`sealing`)
      key-<kid>.pem       the private key in the clear (development mode, no passphrase)
      .lock               flock(2) target that serialises key creation and rotation

Files are 0600 in a 0700 directory; looser permissions on existing keys stop the server.
The database store (`keys.database`) serves a fleet of hosts; both follow one interface.
"""

import fcntl
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from authserver.errors import KeyStoreError
from authserver.keys.algorithms import PrivateJwk
from authserver.keys.material import is_legacy_encrypted, protect, recover
from authserver.keys.records import KeyRecord

log = logging.getLogger(__name__)

MANIFEST = "keyring.json"
_PRIVATE_FILE_MODE = 0o600
_DIRECTORY_MODE = 0o700


class KeyStore(Protocol):
    """Records and private keys. `locked()` serialises changes across processes (and
    hosts, for the database store); records are written whole by `write_records`."""

    description: str

    def locked(self) -> AbstractContextManager[None]: ...

    def read_records(self) -> list[KeyRecord]: ...

    def write_records(self, records: list[KeyRecord]) -> None: ...

    def save_private_key(self, key: PrivateJwk) -> None: ...

    def load_private_key(self, kid: str) -> PrivateJwk: ...

    def delete_private_key(self, kid: str) -> None: ...

    def change_marker(self) -> object:
        """A value that differs whenever the records change (cheap to ask)."""
        ...

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        """Block until the records may have changed, `timeout` passed or `stop` is set."""
        ...

    def close(self) -> None: ...


class FileKeyStore:
    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self.description = f"the key directory {directory}"
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

    def change_marker(self) -> tuple[int, int, int] | None:
        """Changes whenever the manifest is replaced; None when there is none."""
        try:
            info = (self.directory / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)  # a file changes silently: poll

    def close(self) -> None:
        """Nothing to release."""

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

    def save_private_key(self, key: PrivateJwk) -> None:
        stored = protect(key, self._passphrase).encode("ascii")
        suffix = "pem" if self._passphrase is None else "sealed"
        self._write_atomically(f"key-{key.thumbprint()}.{suffix}", stored)

    def load_private_key(self, kid: str) -> PrivateJwk:
        """Parse (and validate) one private key; callers keep the result: it costs ~50 ms,
        and opening a sealed key ~0.3 s more."""
        path = self._private_key_path(kid)
        self.check_permissions(path)
        return recover(path.read_bytes(), kid, self._passphrase, path.name)

    def delete_private_key(self, kid: str) -> None:
        for suffix in ("sealed", "pem"):
            (self.directory / f"key-{kid}.{suffix}").unlink(missing_ok=True)

    def upgrade_legacy_keys(self) -> list[str]:
        """Re-seal keys the first file store encrypted as PKCS#8 (weak KDF); their kids."""
        if self._passphrase is None or not any(self.directory.glob("key-*.pem")):
            return []
        upgraded = []
        with self.locked():
            for record in self.read_records():
                legacy = self.directory / f"key-{record.kid}.pem"
                if legacy.exists() and is_legacy_encrypted(legacy.read_bytes()):
                    self.save_private_key(self.load_private_key(record.kid))
                    legacy.unlink()
                    upgraded.append(record.kid)
        for kid in upgraded:
            log.info("re-sealed signing key %s with scrypt and AES-256-GCM", kid)
        return upgraded

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

    def _private_key_path(self, kid: str) -> Path:
        for suffix in ("sealed", "pem"):
            path = self.directory / f"key-{kid}.{suffix}"
            if path.exists():
                return path
        raise KeyStoreError(f"the private key of {kid} is missing from {self.directory}")

    def _prepare_directory(self) -> None:
        """Create the directory 0700; tighten a fresh one (e.g. a git checkout's keys/)."""
        self.directory.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
        if not any(self.directory.glob("key-*")):
            os.chmod(self.directory, _DIRECTORY_MODE)
        self.check_permissions()

    def _write_atomically(self, name: str, content: bytes) -> None:
        temporary = self.directory / f".{name}.tmp"
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.directory / name)
        except OSError:
            temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file
            raise
