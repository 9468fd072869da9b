"""Creating and rotating signing keys in the store, under its lock (so once across processes)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from joserfc.jwk import RSAKey

from authserver.errors import KeyStoreError
from authserver.keys.records import PUBLIC_MEMBERS, KeyRecord, KeyState
from authserver.keys.store import KeyStore


@dataclass(frozen=True)
class Rotation:
    promoted_kid: str
    next_kid: str
    retired_kid: str | None
    removed_kids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def generate_signing_key(store: KeyStore, bits: int, now: datetime) -> KeyRecord:
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


def ensure_signing_keys(store: KeyStore, bits: int, now: datetime) -> bool:
    """Give an empty store a `current` and a `next` key; True when it created them."""
    # Keys there already: no lock to take, so a server starts (and a killed worker is
    # replaced) even while the key directory cannot be written.
    if store.read_records():
        return False
    with store.locked():
        if store.read_records():
            return False
        current = generate_signing_key(store, bits, now).promoted(now)
        upcoming = generate_signing_key(store, bits, now)
        store.write_records([current, upcoming])
        return True


def rotate_signing_keys(
    store: KeyStore,
    bits: int,
    now: datetime,
    *,
    retention: timedelta,
    min_notice: timedelta,
    only_if: Callable[[list[KeyRecord]], bool] | None = None,
) -> Rotation | None:
    """Promote `next` to `current`, retire `current`, publish a new `next`.

    The retired key stays published for `retention`; keys past theirs are removed.
    `min_notice` is how long `next` should have been published for every verifier's
    cache to hold it; a younger one is promoted all the same, with a warning.
    `only_if`, checked under the lock, can call it off (None): a scheduled rotation
    re-checks that it is still due, since another process may have just rotated.
    """
    with store.locked():
        records = store.read_records()
        if not records:
            raise KeyStoreError(
                f"{store.description} is empty: the server creates the first keys when it "
                "starts, or import them with 'authserver keys import'"
            )
        if only_if is not None and not only_if(records):
            return None
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


@dataclass(frozen=True)
class Revocation:
    revoked_kid: str
    current_kid: str
    next_kid: str
    warnings: list[str] = field(default_factory=list)


def revoke_signing_key(store: KeyStore, kid: str, bits: int, now: datetime) -> Revocation:
    """Emergency removal of a compromised key: out of the JWKS and off the disk at once.

    The JWKS is never empty: revoking `current` promotes `next` (unannounced for any
    verifier that has not fetched it yet: a warning) and publishes a new `next`;
    revoking `next` publishes a new one. Tokens the key signed stop verifying wherever
    the JWKS is re-read (each server process within AUTHSERVER_KEYS_RELOAD_INTERVAL).
    """
    with store.locked():
        records = store.read_records()
        revoked = next((r for r in records if r.kid == kid), None)
        if revoked is None:
            raise KeyStoreError(f"no signing key with kid {kid!r}")
        kept = [r for r in records if r.kid != kid]
        warnings: list[str] = []
        if revoked.state is KeyState.CURRENT:
            upcoming = _find(kept, KeyState.NEXT)
            if upcoming is None:
                upcoming = generate_signing_key(store, bits, now)
                kept.append(upcoming)
            store.load_private_key(upcoming.kid)  # it must load before it is relied on
            kept = [r.promoted(now) if r.kid == upcoming.kid else r for r in kept]
            warnings.append(
                f"{upcoming.kid} signs from now on; verifiers whose JWKS cache predates it "
                "refetch on its unknown kid"
            )
        else:
            # The passphrase must open the key that goes on signing, or a new `next` would
            # be sealed with a wrong one and every server would fail to load it later.
            store.load_private_key(_kid_of(kept, KeyState.CURRENT))
        if _find(kept, KeyState.NEXT) is None:
            kept.append(generate_signing_key(store, bits, now))
        store.write_records(kept)
        store.delete_private_key(kid)
        return Revocation(
            kid, _kid_of(kept, KeyState.CURRENT), _kid_of(kept, KeyState.NEXT), warnings
        )


def _kid_of(records: list[KeyRecord], state: KeyState) -> str:
    found = _find(records, state)
    if found is None:
        raise KeyStoreError(f"the key store has no {state.value} key")
    return found.kid


def next_rotation_at(
    records: list[KeyRecord], *, interval: timedelta, notice: timedelta
) -> datetime | None:
    """When scheduled rotation becomes due (`rotation_due`); None without a current key."""
    current, upcoming = _find(records, KeyState.CURRENT), _find(records, KeyState.NEXT)
    if current is None:
        return None
    signing_since = current.activated_at or current.created_at
    if upcoming is None:
        return signing_since + interval
    return max(signing_since + interval, upcoming.created_at + notice)


def rotation_due(
    records: list[KeyRecord], now: datetime, *, interval: timedelta, notice: timedelta
) -> bool:
    """Whether scheduled rotation should run: `current` has signed for `interval`, and
    `next` has been published for `notice` (so every verifier's JWKS cache holds it)."""
    current, upcoming = _find(records, KeyState.CURRENT), _find(records, KeyState.NEXT)
    if current is None or upcoming is None:
        return current is None
    signing_since = current.activated_at or current.created_at
    return now - signing_since >= interval and now - upcoming.created_at >= notice
