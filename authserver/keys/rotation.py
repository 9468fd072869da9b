"""Creating and rotating signing keys in the store, under its lock (so once across processes)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from joserfc.jwk import RSAKey

from authserver.keys.records import PUBLIC_MEMBERS, KeyRecord, KeyState
from authserver.keys.store import FileKeyStore


@dataclass(frozen=True)
class Rotation:
    promoted_kid: str
    next_kid: str
    retired_kid: str | None
    removed_kids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def generate_signing_key(store: FileKeyStore, bits: int, now: datetime) -> KeyRecord:
    """A new RSA key, saved to the store; `kid` is its RFC 7638 thumbprint."""
    key = RSAKey.generate_key(bits, {"alg": "RS256", "use": "sig"}, auto_kid=True)
    store.save_private_key(key)
    public = key.as_dict(private=False)
    return KeyRecord(
        kid=key.thumbprint(),
        state=KeyState.NEXT,
        public_jwk={name: str(public[name]) for name in PUBLIC_MEMBERS},
        created_at=now,
    )


def ensure_signing_keys(store: FileKeyStore, bits: int, now: datetime) -> bool:
    """Give an empty store a `current` and a `next` key; True when it created them."""
    with store.locked():
        if store.read_records():
            return False
        current = generate_signing_key(store, bits, now).promoted(now)
        upcoming = generate_signing_key(store, bits, now)
        store.write_records([current, upcoming])
        return True


def rotate_signing_keys(
    store: FileKeyStore, bits: int, now: datetime, *, retention: timedelta, min_notice: timedelta
) -> Rotation:
    """Promote `next` to `current`, retire `current`, publish a new `next`.

    The retired key stays published for `retention`; keys past theirs are removed.
    `min_notice` is how long `next` should have been published for every verifier's
    cache to hold it; a younger one is promoted all the same, with a warning.
    """
    with store.locked():
        records = store.read_records()
        warnings: list[str] = []
        upcoming = _find(records, KeyState.NEXT)
        if upcoming is None:
            upcoming = generate_signing_key(store, bits, now)
            records.append(upcoming)
            warnings.append(f"no next key was published; {upcoming.kid} signs unannounced")
        elif now - upcoming.created_at < min_notice:
            age = int((now - upcoming.created_at).total_seconds())
            warnings.append(
                f"next key {upcoming.kid} was published {age}s ago, less than the "
                f"{int(min_notice.total_seconds())}s that JWKS caches may keep an older set"
            )
        # The key about to sign must load with this passphrase, or nothing is written.
        store.load_private_key(upcoming.kid)
        current = _find(records, KeyState.CURRENT)
        rotated = [_rotated(record, upcoming.kid, now, retention) for record in records]
        kept = [r for r in rotated if not r.expired(now)]
        fresh = generate_signing_key(store, bits, now)
        store.write_records([*kept, fresh])
        removed = [r.kid for r in rotated if r not in kept]
        for kid in removed:
            store.delete_private_key(kid)
        return Rotation(
            promoted_kid=upcoming.kid,
            next_kid=fresh.kid,
            retired_kid=current.kid if current else None,
            removed_kids=removed,
            warnings=warnings,
        )


def published_records(records: list[KeyRecord], now: datetime) -> list[KeyRecord]:
    """What the JWKS holds: current first, then next, then retired keys still in use."""
    order = {KeyState.CURRENT: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}
    alive = [r for r in records if not r.expired(now)]
    return sorted(alive, key=lambda r: order[r.state])


def _find(records: list[KeyRecord], state: KeyState) -> KeyRecord | None:
    return next((r for r in records if r.state is state), None)


def _rotated(
    record: KeyRecord, promoted_kid: str, now: datetime, retention: timedelta
) -> KeyRecord:
    if record.kid == promoted_kid:
        return record.promoted(now)
    if record.state is KeyState.CURRENT:
        return record.retired(now, retention)
    return record
