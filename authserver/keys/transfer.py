"""Moving signing keys between stores (`authserver keys import` / `keys export`): from one
host's key directory into the database store of a fleet, or back out for a backup."""

from authserver.errors import KeyStoreError
from authserver.keys.records import KeyRecord
from authserver.keys.store import KeyStore


def copy_keys(source: KeyStore, target: KeyStore) -> list[KeyRecord]:
    """Copy every key, its state and dates, into an empty `target`, re-sealing each
    private key with the target's passphrase. Nothing is written if any key fails to
    open, or if `target` already holds keys."""
    records = source.read_records()
    if not records:
        raise KeyStoreError(f"{source.description} holds no signing keys")
    _ensure_empty(target)  # before the slow part: opening every sealed key
    keys = [source.load_private_key(record.kid) for record in records]
    with target.locked():
        _ensure_empty(target)
        for key in keys:
            target.save_private_key(key)
        target.write_records(records)
    return records


def _ensure_empty(target: KeyStore) -> None:
    if target.read_records():
        raise KeyStoreError(f"{target.description} already holds signing keys")
