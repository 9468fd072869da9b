"""The file key store: RFC 7638 kids, sealed at rest (scrypt + AES-256-GCM), permissions,
one creation, and the upgrade of keys the first store encrypted as PKCS#8."""

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
from authserver.keys.sealing import unseal
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
        path = encrypted_store.directory / f"key-{record.kid}.sealed"
        private = load_pem_private_key(unseal(path.read_bytes(), record.kid, PASSPHRASE), None)
        numbers = private.public_key().public_numbers()  # type: ignore[union-attr]
        # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
        members = {"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
        assert record.kid == digest.decode()
        assert private.key_size == 2048  # type: ignore[union-attr]


def test_private_keys_are_sealed_with_scrypt_and_aes_gcm_in_files_of_mode_0600(
    encrypted_store: FileKeyStore,
) -> None:
    directory = encrypted_store.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert list(directory.glob("key-*.pem")) == []
    sealed_files = sorted(directory.glob("key-*.sealed"))
    assert len(sealed_files) == 2
    for path in sealed_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        document = json.loads(path.read_text())
        # OWASP's scrypt minimum: N = 2^17, r = 8, p = 1; a 128-bit salt per key.
        assert document["kdf"] | {"salt": None} == {
            "name": "scrypt", "n": 2**17, "r": 8, "p": 1, "salt": None
        }  # fmt: skip
        assert len(base64.urlsafe_b64decode(document["kdf"]["salt"] + "==")) == 16
        assert document["cipher"] == "A256GCM"
        assert b"PRIVATE KEY" not in path.read_bytes()


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


def sealed_document(store: FileKeyStore) -> tuple[str, dict[str, object]]:
    kid = store.read_records()[0].kid
    return kid, json.loads((store.directory / f"key-{kid}.sealed").read_text())


def test_a_sealed_key_moved_to_another_kid_is_refused(
    encrypted_store: FileKeyStore, tmp_path: Path
) -> None:
    # The kid is authenticated data of AES-GCM: swapping key files cannot go unnoticed.
    first, second = (r.kid for r in encrypted_store.read_records())
    document = json.loads((encrypted_store.directory / f"key-{first}.sealed").read_text())
    document["kid"] = second
    with pytest.raises(KeyStoreError, match="wrong passphrase or damaged"):
        unseal(json.dumps(document), second, PASSPHRASE)


@pytest.mark.parametrize(
    "weaken",
    [
        lambda d: d["kdf"].update(n=2**10),
        lambda d: d["kdf"].update(n=2**17 + 1),
        lambda d: d["kdf"].update(r=1000),
        lambda d: d["kdf"].update(name="pbkdf2"),
        lambda d: d.update(cipher="A128CBC"),
        lambda d: d.update(nonce="AAAA"),
    ],
    ids=["n-too-low", "n-not-power-of-two", "r-absurd", "other-kdf", "other-cipher", "short-nonce"],
)
def test_a_sealed_key_with_weakened_parameters_is_never_opened(
    encrypted_store: FileKeyStore, weaken
) -> None:
    kid, document = sealed_document(encrypted_store)
    weaken(document)
    with pytest.raises(KeyStoreError, match="unexpected parameters"):
        unseal(json.dumps(document), kid, PASSPHRASE)


@pytest.mark.parametrize("damage", ["", "{", '{"format": 1}', "null", "[]"])
def test_a_damaged_sealed_key_is_a_clear_error(damage: str) -> None:
    with pytest.raises(KeyStoreError):
        unseal(damage, "k" * 43, PASSPHRASE)


def test_keys_the_first_store_encrypted_as_pkcs8_are_re_sealed(tmp_path: Path) -> None:
    """The first file store wrote PBES2 PKCS#8 (PBKDF2 with few rounds): opened once with
    the passphrase, sealed anew, and the old file removed."""
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        PrivateFormat,
    )

    directory = tmp_path / "keys"
    plain = FileKeyStore(directory, None)
    ensure_signing_keys(plain, 2048, utcnow())
    for record in plain.read_records():
        key = plain.load_private_key(record.kid)
        legacy = key.private_key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE.encode())
        )
        (directory / f"key-{record.kid}.pem").write_bytes(legacy)
    store = FileKeyStore(directory, PASSPHRASE)
    kids = [record.kid for record in store.read_records()]
    assert store.load_private_key(kids[0]).thumbprint() == kids[0]  # legacy still opens

    assert store.upgrade_legacy_keys() == kids
    assert list(directory.glob("key-*.pem")) == []
    assert sorted(p.name for p in directory.glob("key-*.sealed")) == sorted(
        f"key-{kid}.sealed" for kid in kids
    )
    assert [store.load_private_key(kid).thumbprint() for kid in kids] == kids
    assert store.upgrade_legacy_keys() == []
