"""The database key store (AUTHSERVER_KEYS_STORE=database) on SQLite and PostgreSQL: rows
per key, sealed private keys, the lifecycle, one first key for many starters, import
from a key directory, and PostgreSQL notifications (issue 10, item 1)."""

import json
import multiprocessing
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from authserver.clock import utcnow
from authserver.db import Database
from authserver.errors import KeyStoreError
from authserver.keys.database import DatabaseKeyStore
from authserver.keys.keyring import KeyRing
from authserver.keys.models import SigningKey
from authserver.keys.records import KeyRecord, KeyState
from authserver.keys.rotation import ensure_signing_keys, revoke_signing_key, rotate_signing_keys
from authserver.keys.store import FileKeyStore
from authserver.keys.transfer import copy_keys
from authserver.services import prepare_key_store
from tests.conftest import make_settings

PASSPHRASE = "a passphrase for the fleet"
RETENTION = timedelta(minutes=20)


@pytest.fixture
def store(database: Database, template_keys_dir: Path) -> DatabaseKeyStore:
    """A database store holding the run's template keys (RSA key generation is slow)."""
    store = DatabaseKeyStore(database, None)
    copy_keys(FileKeyStore(template_keys_dir, None), store)
    return store


def by_kid(record: KeyRecord) -> str:
    return record.kid


def rows(database: Database) -> list[SigningKey]:
    with database.transaction() as db:
        return list(db.exec(select(SigningKey)).all())


def rotate(store: DatabaseKeyStore, offset: timedelta = timedelta(0)):
    return rotate_signing_keys(
        store, 2048, utcnow() + offset, retention=RETENTION, min_notice=timedelta(0)
    )


def test_an_import_keeps_kids_states_and_dates(
    store: DatabaseKeyStore, template_keys_dir: Path
) -> None:
    source = FileKeyStore(template_keys_dir, None).read_records()
    assert sorted(store.read_records(), key=by_kid) == sorted(source, key=by_kid)
    for record in source:
        assert store.load_private_key(record.kid).thumbprint() == record.kid


def test_with_a_passphrase_private_keys_are_sealed_rows(
    database: Database, template_keys_dir: Path
) -> None:
    store = DatabaseKeyStore(database, PASSPHRASE)
    copy_keys(FileKeyStore(template_keys_dir, None), store)
    for row in rows(database):
        document = json.loads(row.private_key)
        assert document["format"] == "authserver-sealed-key"
        assert document["kdf"]["name"] == "scrypt" and document["cipher"] == "A256GCM"
        assert "PRIVATE KEY" not in row.private_key
        assert set(json.loads(row.public_jwk)) == {"kty", "n", "e"}
    kid = rows(database)[0].kid
    assert store.load_private_key(kid).thumbprint() == kid
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        DatabaseKeyStore(database, "not it").load_private_key(kid)
    with pytest.raises(KeyStoreError, match="AUTHSERVER_KEYS_PASSPHRASE"):
        DatabaseKeyStore(database, None).load_private_key(kid)


def test_rotation_and_revocation_rewrite_the_rows(
    database: Database, store: DatabaseKeyStore
) -> None:
    rotation = rotate(store)
    states = {row.kid: row.state for row in rows(database)}
    assert states == {
        rotation.promoted_kid: "current",
        rotation.retired_kid: "retired",
        rotation.next_kid: "next",
    }
    revocation = revoke_signing_key(store, rotation.promoted_kid, 2048, utcnow())
    states = {row.kid: row.state for row in rows(database)}
    assert rotation.promoted_kid not in states
    assert states[revocation.current_kid] == "current"
    assert states[revocation.next_kid] == "next"
    second = rotate(store, RETENTION + timedelta(seconds=1))
    assert rotation.retired_kid in second.removed_kids
    assert rotation.retired_kid not in {row.kid for row in rows(database)}


def test_a_key_ring_on_another_connection_sees_a_rotation_at_its_next_refresh(
    database: Database, store: DatabaseKeyStore
) -> None:
    other = Database(database.url)
    try:
        ring = KeyRing(DatabaseKeyStore(other, None), timedelta(hours=1))
        before = ring.current_kid
        assert ring.refresh() is False
        rotation = rotate(store)
        assert ring.refresh() is True
        assert ring.current_kid == rotation.promoted_kid != before
        assert ring.verification_key(before) is not None  # retired, still published
    finally:
        other.dispose()


def test_an_empty_database_store_gets_one_pair_of_keys(database: Database) -> None:
    store = DatabaseKeyStore(database, None)
    assert ensure_signing_keys(store, 2048, utcnow()) is True
    assert ensure_signing_keys(store, 2048, utcnow()) is False
    assert sorted(r.state for r in store.read_records()) == [KeyState.CURRENT, KeyState.NEXT]


def _ensure_in_process(url: str) -> bool:
    database = Database(url)
    try:
        return ensure_signing_keys(DatabaseKeyStore(database, None), 2048, utcnow())
    finally:
        database.dispose()


def test_processes_starting_together_on_an_empty_store_create_the_keys_once(
    database: Database,
) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        created = pool.map(_ensure_in_process, [database.url] * 4)
    assert created.count(True) == 1
    assert sorted(row.state for row in rows(database)) == ["current", "next"]


def test_a_failed_import_writes_nothing(database: Database, tmp_path: Path) -> None:
    sealed = tmp_path / "sealed-keys"
    ensure_signing_keys(FileKeyStore(sealed, PASSPHRASE), 2048, utcnow())
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        copy_keys(FileKeyStore(sealed, "wrong"), DatabaseKeyStore(database, None))
    assert rows(database) == []
    with pytest.raises(KeyStoreError, match="holds no signing keys"):
        copy_keys(FileKeyStore(tmp_path / "empty", None), DatabaseKeyStore(database, None))


def test_an_import_into_a_store_with_keys_is_refused(
    store: DatabaseKeyStore, template_keys_dir: Path
) -> None:
    with pytest.raises(KeyStoreError, match="already holds signing keys"):
        copy_keys(FileKeyStore(template_keys_dir, None), store)


def test_the_database_store_will_not_start_fresh_beside_unimported_file_keys(
    database: Database, keys_dir: Path
) -> None:
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, keys_store="database")
    with pytest.raises(KeyStoreError, match="keys import --from-dir"):
        prepare_key_store(settings, database, DatabaseKeyStore(database, None))
    assert rows(database) == []


@pytest.mark.postgresql
def test_postgresql_notifies_listeners_of_a_change(
    postgresql_url: str, template_keys_dir: Path
) -> None:
    database = Database(postgresql_url)
    listener_database = Database(postgresql_url)
    try:
        writer = DatabaseKeyStore(database, None)
        copy_keys(FileKeyStore(template_keys_dir, None), writer)
        listener = DatabaseKeyStore(listener_database, None)
        listener.wait_for_change(0.01, threading.Event())  # LISTEN from now on
        woke: list[float] = []

        def wait() -> None:
            started = time.monotonic()
            listener.wait_for_change(30, threading.Event())
            woke.append(time.monotonic() - started)

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.2)
        rotate(writer)
        thread.join(timeout=30)
        # Woken by the notification, not by the 30 s poll.
        assert woke and woke[0] < 10, woke
        listener.close()
    finally:
        with database.transaction() as db:
            for row in db.exec(select(SigningKey)).all():
                db.delete(row)
        database.dispose()
        listener_database.dispose()
