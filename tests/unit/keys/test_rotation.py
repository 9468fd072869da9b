"""Rotation: next → current → retired → removed, and what each process sees."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from authserver.clock import utcnow
from authserver.keys.keyring import KeyRing
from authserver.keys.records import KeyState
from authserver.keys.rotation import rotate_signing_keys
from authserver.keys.store import FileKeyStore

RETENTION = timedelta(minutes=20)


def rotate(store: FileKeyStore, *, at_offset: timedelta = timedelta(0), notice=timedelta(0)):
    return rotate_signing_keys(
        store, 2048, utcnow() + at_offset, retention=RETENTION, min_notice=notice
    )


def states(store: FileKeyStore) -> dict[str, KeyState]:
    return {record.kid: record.state for record in store.read_records()}


def test_rotation_promotes_next_retires_current_and_publishes_a_new_next(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    before = states(store)
    old_current = next(k for k, s in before.items() if s is KeyState.CURRENT)
    old_next = next(k for k, s in before.items() if s is KeyState.NEXT)

    rotation = rotate(store)

    after = states(store)
    assert rotation.promoted_kid == old_next
    assert rotation.retired_kid == old_current
    assert after[old_next] is KeyState.CURRENT
    assert after[old_current] is KeyState.RETIRED
    assert after[rotation.next_kid] is KeyState.NEXT
    assert len(after) == 3
    assert rotation.warnings == []


def test_a_retired_key_is_removed_once_its_tokens_have_expired(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    first = rotate(store)
    assert first.retired_kid is not None
    second = rotate(store, at_offset=RETENTION + timedelta(seconds=1))
    assert first.retired_kid in second.removed_kids
    assert first.retired_kid not in states(store)
    assert not (keys_dir / f"key-{first.retired_kid}.pem").exists()


def test_a_young_next_key_is_promoted_with_a_warning(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    # The template keys were made when the run started: a notice longer than any run.
    rotation = rotate(store, notice=timedelta(days=1))
    assert rotation.promoted_kid in states(store)
    assert states(store)[rotation.promoted_kid] is KeyState.CURRENT
    assert "published" in rotation.warnings[0]


def test_a_keyring_sees_a_rotation_without_a_restart(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    first = KeyRing(store, timedelta(0))
    second = KeyRing(FileKeyStore(keys_dir, None), timedelta(0))
    old = first.current_kid

    rotation = rotate(store)

    for ring in (first, second):
        assert ring.current_kid == rotation.promoted_kid
        assert ring.signing_key.kid == rotation.promoted_kid
        published = [key["kid"] for key in _keys(ring)]
        assert published == [rotation.promoted_kid, rotation.next_kid, old]


def test_a_keyring_rereads_the_store_only_after_its_reload_interval(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    ring = KeyRing(store, timedelta(hours=1))
    old = ring.current_kid
    rotate(store)
    # Within the interval the process keeps its view; the old key stays published.
    assert ring.current_kid == old


def test_a_keyring_stops_publishing_a_retired_key_after_its_removal_time(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    rotation = rotate(store)
    ring = KeyRing(store, timedelta(0))
    assert rotation.retired_kid in [key["kid"] for key in _keys(ring)]
    # Later, past `remove_after`, without any rotation: the running process drops it.
    manifest = keys_dir / "keyring.json"
    document = json.loads(manifest.read_text())
    for item in document["keys"]:
        if item["state"] == "retired":
            item["remove_after"] = (utcnow() - timedelta(seconds=1)).isoformat()
    manifest.write_text(json.dumps(document))
    assert rotation.retired_kid not in [key["kid"] for key in _keys(ring)]
    assert len(_keys(ring)) == 2


def test_the_removal_time_is_fixed_when_the_key_retires(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    rotation = rotate(store)
    retired = next(r for r in store.read_records() if r.kid == rotation.retired_kid)
    assert retired.retired_at is not None
    assert retired.remove_after == retired.retired_at + RETENTION


def test_a_rotation_with_the_wrong_passphrase_writes_nothing(tmp_path: Path) -> None:
    from authserver.errors import KeyStoreError
    from authserver.keys.rotation import ensure_signing_keys

    directory = tmp_path / "keys"
    ensure_signing_keys(FileKeyStore(directory, "right"), 2048, utcnow())
    before = (directory / "keyring.json").read_bytes()
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        rotate(FileKeyStore(directory, "wrong"))
    assert (directory / "keyring.json").read_bytes() == before
    assert len(list(directory.glob("key-*.sealed"))) == 2


@pytest.mark.parametrize("state", ["current"])
def test_a_store_without_a_current_key_does_not_load(keys_dir: Path, state: str) -> None:
    from authserver.errors import KeyStoreError

    manifest = keys_dir / "keyring.json"
    manifest.write_text(manifest.read_text().replace(f'"{state}"', '"next"'))
    with pytest.raises(KeyStoreError, match="no current signing key"):
        KeyRing(FileKeyStore(keys_dir, None), timedelta(0))


def _keys(ring: KeyRing) -> list[dict[str, str]]:
    return json.loads(ring.jwks.body)["keys"]


def test_revoking_the_next_key_with_the_wrong_passphrase_writes_nothing(tmp_path: Path) -> None:
    """Else the new `next` would be sealed with the wrong passphrase, and every server
    would fail to load the store from then on."""
    from authserver.errors import KeyStoreError
    from authserver.keys.rotation import ensure_signing_keys, revoke_signing_key

    directory = tmp_path / "keys"
    ensure_signing_keys(FileKeyStore(directory, "right"), 2048, utcnow())
    upcoming = next(
        k for k, s in states(FileKeyStore(directory, None)).items() if s is KeyState.NEXT
    )
    before = (directory / "keyring.json").read_bytes()
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        revoke_signing_key(FileKeyStore(directory, "wrong"), upcoming, 2048, utcnow())
    assert (directory / "keyring.json").read_bytes() == before
    assert len(list(directory.glob("key-*.sealed"))) == 2


def test_an_empty_store_is_not_rotated(tmp_path: Path) -> None:
    from authserver.errors import KeyStoreError

    with pytest.raises(KeyStoreError, match="empty"):
        rotate(FileKeyStore(tmp_path / "keys", None))
    assert not (tmp_path / "keys" / "keyring.json").exists()
