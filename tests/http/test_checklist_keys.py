"""SECURITY-CHECKLIST "Keys": private keys encrypted with AUTHSERVER_KEYS_PASSPHRASE, 0600 in
a 0700 directory, and a server that refuses to start on looser permissions or without the
passphrase that opens them.

Each case starts the app as `authserver serve` does (`create_app`), so "refuse to start"
is the start-up itself failing with a one-line KeyStoreError, before any request.
"""

import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.db import Database
from authserver.errors import KeyStoreError
from authserver.keys.sealing import unseal
from authserver.schema import upgrade_database
from tests.conftest import ISSUER, make_settings

PASSPHRASE = "a passphrase of more than 16 characters"
PKCS8_PEM = b"-----BEGIN PRIVATE KEY-----"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Start-up and the key directory: the database plays no part, one is enough."""
    return sqlite_url


def start(database: Database, keys_dir: Path, passphrase: str | None) -> None:
    """Start the app on `keys_dir` and ask for the JWKS; raises if start-up refuses."""
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, keys_passphrase=passphrase
    )
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert len(http.get("/.well-known/jwks.json").json()["keys"]) == 2


@pytest.fixture(scope="module")
def sealed_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key directory a first start with a passphrase made (keygen and scrypt: once),
    beside a database of its own (a first start records its keys in the audit log)."""
    directory = tmp_path_factory.mktemp("sealed")
    database = Database(f"sqlite:///{directory / 'authserver.db'}")
    upgrade_database(database)
    try:
        start(database, directory / "keys", PASSPHRASE)
    finally:
        database.dispose()
    return directory / "keys"


@pytest.fixture
def sealed_copy(sealed_keys: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    shutil.copytree(sealed_keys, directory)
    directory.chmod(0o700)
    return directory


def test_a_first_start_with_a_passphrase_stores_encrypted_pkcs8_keys_0600_in_a_0700_directory(
    sealed_keys: Path,
) -> None:
    """SECURITY-CHECKLIST "Keys": PKCS#8 encrypted with AUTHSERVER_KEYS_PASSPHRASE, mode
    0600 in a 0700 directory (the PKCS#8 PEM is sealed with scrypt and AES-256-GCM,
    issue 14 item 3, instead of PKCS#8's own PBES2 with its few KDF rounds)."""
    assert stat.S_IMODE(sealed_keys.stat().st_mode) == 0o700
    private_files = sorted(sealed_keys.glob("key-*"))
    assert [path.suffix for path in private_files] == [".sealed", ".sealed"]
    for path in private_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"PRIVATE KEY" not in path.read_bytes()
    # Opening one costs scrypt's 128 MiB and about 0.3 s: one is proof enough.
    first = private_files[0]
    opened = unseal(first.read_bytes(), first.stem.removeprefix("key-"), PASSPHRASE)
    assert opened.startswith(PKCS8_PEM)
    for path in sealed_keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


@pytest.mark.parametrize(
    "passphrase",
    [None, "another passphrase of 16+ characters"],
    ids=["without the passphrase", "with a wrong passphrase"],
)
def test_the_server_refuses_to_start_on_keys_its_passphrase_does_not_open(
    database: Database, sealed_copy: Path, passphrase: str | None
) -> None:
    """SECURITY-CHECKLIST "Keys": refuse to start without the passphrase (in development
    mode too: an encrypted key is never used without it)."""
    with pytest.raises(KeyStoreError, match=r"(?i)passphrase") as refused:
        start(database, sealed_copy, passphrase)
    assert "\n" not in str(refused.value)


def test_the_server_starts_again_with_its_passphrase(database: Database, sealed_copy: Path) -> None:
    """The control for the refusals: the same directory, the right passphrase."""
    start(database, sealed_copy, PASSPHRASE)


def private_key_file(keys_dir: Path) -> Path:
    return sorted(keys_dir.glob("key-*"))[0]


Loosen = Callable[[Path], Path]
LOOSER: dict[str, Loosen] = {
    "a key file readable by all (0644)": lambda d: _chmod(private_key_file(d), 0o644),
    "a key file readable by the group (0640)": lambda d: _chmod(private_key_file(d), 0o640),
    "a key file writable by others (0602)": lambda d: _chmod(private_key_file(d), 0o602),
    "a directory listable by all (0755)": lambda d: _chmod(d, 0o755),
    "a directory open to the group (0750)": lambda d: _chmod(d, 0o750),
    "a directory others may enter (0701)": lambda d: _chmod(d, 0o701),
}


def _chmod(path: Path, mode: int) -> Path:
    path.chmod(mode)
    return path


@pytest.mark.parametrize("loosen", LOOSER.values(), ids=LOOSER.keys())
def test_the_server_refuses_to_start_on_key_permissions_looser_than_0600_and_0700(
    database: Database, keys_dir: Path, loosen: Loosen
) -> None:
    """SECURITY-CHECKLIST "Keys": mode 0600 in a 0700 directory; refuse to start on looser
    permissions (with a one-line error naming the path, its mode and the fix)."""
    loosened = loosen(keys_dir)
    mode = stat.S_IMODE(loosened.stat().st_mode)
    with pytest.raises(KeyStoreError, match=f"{mode:04o}") as refused:
        start(database, keys_dir, None)
    message = str(refused.value)
    assert str(loosened) in message and "chmod" in message and "\n" not in message


@pytest.mark.parametrize("file_mode", [0o600, 0o400], ids=["0600", "0400"])
def test_the_server_starts_on_keys_only_their_owner_can_read(
    database: Database, keys_dir: Path, file_mode: int
) -> None:
    """The control: 0600 (or stricter) in 0700 starts."""
    for path in keys_dir.glob("key-*"):
        path.chmod(file_mode)
    start(database, keys_dir, None)
