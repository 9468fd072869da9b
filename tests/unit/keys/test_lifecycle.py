"""Emergency revocation and scheduled rotation (docs/keys.md)."""

from datetime import timedelta
from pathlib import Path

import pytest

from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.keys.records import KeyState
from authserver.keys.rotation import revoke_signing_key, rotate_signing_keys, rotation_due
from authserver.keys.store import FileKeyStore

NOTICE = timedelta(minutes=6)
INTERVAL = timedelta(days=30)


def kid_in(store: FileKeyStore, state: KeyState) -> str:
    return next(r.kid for r in store.read_records() if r.state is state)


def published_states(store: FileKeyStore) -> list[str]:
    return sorted(r.state.value for r in store.read_records())


def test_revoking_the_current_key_promotes_next_and_publishes_a_new_next(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    current, upcoming = kid_in(store, KeyState.CURRENT), kid_in(store, KeyState.NEXT)
    revocation = revoke_signing_key(store, current, 2048, utcnow())
    assert revocation.current_kid == upcoming
    assert current not in {r.kid for r in store.read_records()}
    assert not (keys_dir / f"key-{current}.pem").exists()
    # The JWKS is never empty: a current and a next key, always.
    assert published_states(store) == ["current", "next"]
    assert revocation.warnings


def test_revoking_the_next_or_a_retired_key_leaves_the_signing_key_alone(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    rotate_signing_keys(store, 2048, utcnow(), retention=timedelta(hours=1), min_notice=NOTICE)
    current = kid_in(store, KeyState.CURRENT)
    revoke_signing_key(store, kid_in(store, KeyState.RETIRED), 2048, utcnow())
    upcoming = kid_in(store, KeyState.NEXT)
    revocation = revoke_signing_key(store, upcoming, 2048, utcnow())
    assert revocation.current_kid == current
    assert revocation.next_kid != upcoming
    assert published_states(store) == ["current", "next"]


def test_revoking_an_unknown_kid_is_an_error_and_changes_nothing(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    before = store.read_records()
    with pytest.raises(KeyStoreError, match="no signing key"):
        revoke_signing_key(store, "x" * 43, 2048, utcnow())
    assert store.read_records() == before


def test_rotation_is_due_only_after_the_interval_and_once_next_had_its_notice(
    keys_dir: Path,
) -> None:
    store = FileKeyStore(keys_dir, None)
    records = store.read_records()
    now = utcnow()
    assert not rotation_due(records, now, interval=INTERVAL, notice=NOTICE)
    later = now + INTERVAL + timedelta(seconds=1)
    assert rotation_due(records, later, interval=INTERVAL, notice=NOTICE)
    # A next key younger than its notice is never promoted by the schedule.
    assert not rotation_due(records, later, interval=INTERVAL, notice=INTERVAL * 2)
