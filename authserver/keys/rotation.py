"""Creating and rotating signing keys in the store, under its lock (so once across processes).

Every algorithm in use (`algorithms`: AUTHSERVER_SIGNING_ALG first, the one that signs
access tokens and our other JWTs, then AUTHSERVER_EXTRA_SIGNING_ALGS, for clients' id_tokens)
has its own `current` and `next` key, and all of them rotate together. When the settings
change (docs/keys.md, "Choosing the algorithm"):

- a new AUTHSERVER_SIGNING_ALG gets a `next` key at start-up and signs from the next
  rotation on, once verifiers had time to fetch it; the key of the former algorithm signs
  until then (`chains.signing_record`), and is retired by that rotation;
- a new extra algorithm gets its `current` and `next` keys at once (clients registered
  for it need them);
- the `next` key of an algorithm no longer in use is removed (it never signed); its
  `current` key is retired at the next rotation, and published until its tokens expire.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from authserver.errors import KeyStoreError
from authserver.keys.algorithms import DEFAULT_ALGORITHM
from authserver.keys.chains import (
    Algorithms,
    completed,
    find,
    generate_signing_key,
    incomplete,
    signing_record,
)
from authserver.keys.records import KeyRecord, KeyState
from authserver.keys.store import KeyStore

_LEGACY = (DEFAULT_ALGORITHM,)


@dataclass(frozen=True)
class Rotation:
    """`promoted_kid`, `next_kid`: of AUTHSERVER_SIGNING_ALG; `retired_kid`: the key that
    signed access tokens before; `extra_kids`: alg -> (current, next) of each extra one."""

    promoted_kid: str
    next_kid: str
    retired_kid: str | None
    removed_kids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra_kids: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Alignment:
    """What `align_signing_keys` changed: keys made, promoted, and removed."""

    created: list[KeyRecord]
    promoted_kids: list[str]
    removed_kids: list[str]


def ensure_signing_keys(
    store: KeyStore, bits: int, now: datetime, *, algorithms: Algorithms = _LEGACY
) -> bool:
    """Give an empty store a `current` and a `next` key of each algorithm; True when it
    created them."""
    # Keys there already: no lock to take, so a server starts (and a killed worker is
    # replaced) even while the key directory cannot be written.
    if store.read_records():
        return False
    with store.locked():
        if store.read_records():
            return False
        store.write_records(completed([], store, bits, now, algorithms))
        return True


def align_signing_keys(
    store: KeyStore, bits: int, now: datetime, *, algorithms: Algorithms
) -> Alignment | None:
    """Give a store made for other algorithms the keys `algorithms` need (see above);
    None when it had them. Takes the lock only when something is to change."""
    if not incomplete(store.read_records(), algorithms):
        return None
    with store.locked():
        records = store.read_records()
        if not records or not incomplete(records, algorithms):
            return None
        aligned = completed(records, store, bits, now, algorithms)
        store.write_records(aligned)
        before = {r.kid: r for r in records}
        removed = [kid for kid in before if kid not in {r.kid for r in aligned}]
        for kid in removed:
            store.delete_private_key(kid)
        return Alignment(
            created=[r for r in aligned if r.kid not in before],
            promoted_kids=[
                r.kid for r in aligned if r.kid in before and r.state is not before[r.kid].state
            ],
            removed_kids=removed,
        )


def rotate_signing_keys(
    store: KeyStore,
    bits: int,
    now: datetime,
    *,
    retention: timedelta,
    min_notice: timedelta,
    only_if: Callable[[list[KeyRecord]], bool] | None = None,
    algorithms: Algorithms = _LEGACY,
) -> Rotation | None:
    """Promote each algorithm's `next` to `current`, retire every other `current`, publish
    a new `next` for each algorithm in use.

    The retired keys stay published for `retention`; keys past theirs are removed.
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
        promoted: dict[str, str] = {}
        for alg in algorithms:
            upcoming = find(records, KeyState.NEXT, alg)
            if upcoming is None:
                upcoming = generate_signing_key(store, bits, now, alg)
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
            promoted[alg] = upcoming.kid
        signed_before = signing_record(records, algorithms[0])
        rotated = [_rotated(r, set(promoted.values()), now, retention) for r in records]
        alive = [r for r in rotated if not r.expired(now)]
        kept = completed(alive, store, bits, now, algorithms)
        store.write_records(kept)
        removed = [r.kid for r in records if r.kid not in {k.kid for k in kept}]
        for kid in removed:
            store.delete_private_key(kid)
        next_kids = {alg: _kid_of(kept, KeyState.NEXT, alg) for alg in algorithms}
        return Rotation(
            promoted_kid=promoted[algorithms[0]],
            next_kid=next_kids[algorithms[0]],
            retired_kid=signed_before.kid if signed_before else None,
            removed_kids=removed,
            warnings=warnings,
            extra_kids={alg: (promoted[alg], next_kids[alg]) for alg in algorithms[1:]},
        )


def published_records(records: list[KeyRecord], now: datetime) -> list[KeyRecord]:
    """What the JWKS holds: current first, then next, then retired keys still in use."""
    order = {KeyState.CURRENT: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}
    alive = [r for r in records if not r.expired(now)]
    return sorted(alive, key=lambda r: order[r.state])


def _rotated(
    record: KeyRecord, promoted_kids: set[str], now: datetime, retention: timedelta
) -> KeyRecord:
    if record.kid in promoted_kids:
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


def revoke_signing_key(
    store: KeyStore, kid: str, bits: int, now: datetime, *, algorithms: Algorithms = _LEGACY
) -> Revocation:
    """Emergency removal of a compromised key: out of the JWKS and off the disk at once.

    The JWKS is never empty: revoking `current` promotes the `next` key of its algorithm
    (unannounced for any verifier that has not fetched it yet: a warning) and publishes
    a new `next`; revoking `next` publishes a new one. Tokens the key signed stop
    verifying wherever the JWKS is re-read (each server process within
    AUTHSERVER_KEYS_RELOAD_INTERVAL). `current_kid` and `next_kid` of the result are
    those of AUTHSERVER_SIGNING_ALG (`algorithms[0]`).
    """
    with store.locked():
        records = store.read_records()
        revoked = next((r for r in records if r.kid == kid), None)
        if revoked is None:
            raise KeyStoreError(f"no signing key with kid {kid!r}")
        kept = [r for r in records if r.kid != kid]
        warnings: list[str] = []
        if revoked.state is KeyState.CURRENT:
            upcoming = find(kept, KeyState.NEXT, revoked.alg)
            if upcoming is None and revoked.alg in algorithms:
                upcoming = generate_signing_key(store, bits, now, revoked.alg)
                kept.append(upcoming)
            if upcoming is not None:
                store.load_private_key(upcoming.kid)  # it must load before it is relied on
                kept = [r.promoted(now) if r.kid == upcoming.kid else r for r in kept]
                warnings.append(
                    f"{upcoming.kid} signs from now on; verifiers whose JWKS cache predates "
                    "it refetch on its unknown kid"
                )
        else:
            # The passphrase must open the key that goes on signing, or a new `next` would
            # be sealed with a wrong one and every server would fail to load it later.
            signing = signing_record(kept, algorithms[0])
            if signing is not None:
                store.load_private_key(signing.kid)
        before = {r.kid: r.state for r in kept}
        kept = completed(kept, store, bits, now, algorithms)
        for record in kept:
            if record.state is KeyState.CURRENT and before.get(record.kid) is not record.state:
                warnings.append(f"{record.kid} signs from now on ({record.alg})")
        store.write_records(kept)
        store.delete_private_key(kid)
        for gone in before.keys() - {r.kid for r in kept}:
            store.delete_private_key(gone)
        signing = signing_record(kept, algorithms[0])
        if signing is None:
            raise KeyStoreError("the key store has no current key")
        return Revocation(kid, signing.kid, _kid_of(kept, KeyState.NEXT, algorithms[0]), warnings)


def _kid_of(records: list[KeyRecord], state: KeyState, alg: str) -> str:
    found = find(records, state, alg)
    if found is None:
        raise KeyStoreError(f"the key store has no {state.value} {alg} key")
    return found.kid


def next_rotation_at(
    records: list[KeyRecord], *, interval: timedelta, notice: timedelta
) -> datetime | None:
    """When scheduled rotation becomes due (`rotation_due`); None without a current key."""
    signing_since, published_since = _rotation_dates(records)
    if signing_since is None:
        return None
    if published_since is None:
        return signing_since + interval
    return max(signing_since + interval, published_since + notice)


def rotation_due(
    records: list[KeyRecord], now: datetime, *, interval: timedelta, notice: timedelta
) -> bool:
    """Whether scheduled rotation should run: the `current` keys have signed for
    `interval`, and every `next` key has been published for `notice` (so every
    verifier's JWKS cache holds it)."""
    signing_since, published_since = _rotation_dates(records)
    if signing_since is None or published_since is None:
        return signing_since is None
    return now - signing_since >= interval and now - published_since >= notice


def _rotation_dates(records: list[KeyRecord]) -> tuple[datetime | None, datetime | None]:
    """Since when the oldest `current` key signs; since when the youngest `next` key is
    published (all algorithms rotate together: the last one to be ready sets the pace)."""
    signing = [r.activated_at or r.created_at for r in records if r.state is KeyState.CURRENT]
    published = [r.created_at for r in records if r.state is KeyState.NEXT]
    return min(signing, default=None), max(published, default=None)
