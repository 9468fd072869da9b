"""The file key store: RFC 7638 kids, encryption at rest, permissions, one creation."""

import base64
import hashlib
import json
import multiprocessing
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.keys.records import KeyState
from authserver.keys.rotation import ensure_signing_keys
from authserver.keys.store import FileKeyStore

PASSPHRASE = "correct horse battery staple"


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def encrypted_store(tmp_path_factory: pytest.TempPathFactory) -> FileKeyStore:
    store = FileKeyStore(tmp_path_factory.mktemp("enc") / "keys", PASSPHRASE)
    ensure_signing_keys(store, 2048, utcnow())
    return store


def test_first_start_creates_a_current_and_a_next_key(encrypted_store: FileKeyStore) -> None:
    states = [record.state for record in encrypted_store.read_records()]
    assert states == [KeyState.CURRENT, KeyState.NEXT]


def test_the_kid_is_the_rfc_7638_thumbprint_of_the_key(encrypted_store: FileKeyStore) -> None:
    for record in encrypted_store.read_records():
        path = encrypted_store.directory / f"key-{record.kid}.pem"
        private = load_pem_private_key(path.read_bytes(), PASSPHRASE.encode())
        numbers = private.public_key().public_numbers()  # type: ignore[union-attr]
        # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
        members = {"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
        assert record.kid == digest.decode()
        assert private.key_size == 2048  # type: ignore[union-attr]


def test_private_keys_are_encrypted_pkcs8_files_of_mode_0600(
    encrypted_store: FileKeyStore,
) -> None:
    directory = encrypted_store.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    pem_files = sorted(directory.glob("key-*.pem"))
    assert len(pem_files) == 2
    for path in pem_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        pem = path.read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):
            load_pem_private_key(pem, None)
        with pytest.raises(ValueError):
            load_pem_private_key(pem, b"wrong passphrase")


def test_the_manifest_holds_no_private_member(encrypted_store: FileKeyStore) -> None:
    manifest = json.loads((encrypted_store.directory / "keyring.json").read_text())
    for item in manifest["keys"]:
        assert set(item["public_jwk"]) == {"kty", "n", "e"}


def test_an_encrypted_key_without_the_passphrase_is_a_clear_error(
    encrypted_store: FileKeyStore,
) -> None:
    kid = encrypted_store.read_records()[0].kid
    with pytest.raises(KeyStoreError, match="AUTHSERVER_KEYS_PASSPHRASE"):
        FileKeyStore(encrypted_store.directory, None).load_private_key(kid)
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        FileKeyStore(encrypted_store.directory, "not it").load_private_key(kid)


def test_without_a_passphrase_keys_are_plain_pkcs8(keys_dir: Path) -> None:
    for path in keys_dir.glob("key-*.pem"):
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_keys_others_can_read_are_refused(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    kid = store.read_records()[0].kid
    (keys_dir / f"key-{kid}.pem").chmod(0o644)
    with pytest.raises(KeyStoreError, match="0644"):
        store.load_private_key(kid)
    (keys_dir / f"key-{kid}.pem").chmod(0o600)
    keys_dir.chmod(0o755)
    with pytest.raises(KeyStoreError, match="0755"):
        store.load_private_key(kid)


def test_a_fresh_directory_is_tightened_to_0700(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    (directory / "README.md").write_text("checked-in readme")
    ensure_signing_keys(FileKeyStore(directory, None), 2048, utcnow())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_damaged_manifest_is_a_clear_error(keys_dir: Path) -> None:
    (keys_dir / "keyring.json").write_text('{"keys": [{"kid": "../../etc/passwd"}]}')
    with pytest.raises(KeyStoreError, match=r"keyring\.json"):
        FileKeyStore(keys_dir, None).read_records()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda jwk: jwk.update(d="AQAB"),
        lambda jwk: jwk.update(n=jwk["n"][:-4] + "AAAA"),
        lambda jwk: jwk.update(kty="oct"),
    ],
    ids=["private-member-added", "modulus-swapped", "wrong-kty"],
)
def test_a_tampered_public_key_is_never_published(keys_dir: Path, tamper) -> None:
    manifest = keys_dir / "keyring.json"
    document = json.loads(manifest.read_text())
    tamper(document["keys"][0]["public_jwk"])
    manifest.write_text(json.dumps(document))
    records = None
    try:
        records = FileKeyStore(keys_dir, None).read_records()
    except KeyStoreError:
        return
    # An extra member is dropped; only kty, n, e (checked against the kid) remain.
    assert set(records[0].public_jwk) == {"kty", "n", "e"}


def test_a_key_in_the_clear_is_refused_when_a_passphrase_is_set(keys_dir: Path) -> None:
    kid = FileKeyStore(keys_dir, None).read_records()[0].kid
    with pytest.raises(KeyStoreError, match="not encrypted"):
        FileKeyStore(keys_dir, "s3cret").load_private_key(kid)


def _ensure_in_process(directory: str) -> bool:
    return ensure_signing_keys(FileKeyStore(Path(directory), None), 2048, utcnow())


def test_processes_starting_together_create_the_keys_once(tmp_path: Path) -> None:
    directory = str(tmp_path / "keys")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        created = pool.map(_ensure_in_process, [directory] * 4)
    assert created.count(True) == 1
    records = FileKeyStore(Path(directory), None).read_records()
    assert [r.state for r in records] == [KeyState.CURRENT, KeyState.NEXT]
    assert len(list(Path(directory).glob("key-*.pem"))) == 2


def test_record_dates_are_timezone_aware(keys_dir: Path) -> None:
    for record in FileKeyStore(keys_dir, None).read_records():
        assert record.created_at.utcoffset() == timedelta(0)
