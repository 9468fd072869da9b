"""Each signing algorithm's keys: what a store needs for the algorithms in use, and which
key signs (keys/rotation.py says how they change).

`algorithms` is AUTHSERVER_SIGNING_ALG, then AUTHSERVER_EXTRA_SIGNING_ALGS: each has (at
most) one `current` and one `next` key.
"""

from collections.abc import Sequence
from datetime import datetime

from authserver.keys.algorithms import DEFAULT_ALGORITHM, generate_private_key
from authserver.keys.records import KeyRecord, KeyState, public_members
from authserver.keys.store import KeyStore

Algorithms = Sequence[str]


def generate_signing_key(
    store: KeyStore, bits: int, now: datetime, alg: str = DEFAULT_ALGORITHM
) -> KeyRecord:
    """A new key for `alg` (RSA of `bits` for RS256 and PS256), saved to the store; its
    `kid` is its RFC 7638 thumbprint."""
    key = generate_private_key(alg, bits)
    store.save_private_key(key)
    return KeyRecord(
        kid=str(key.kid),
        state=KeyState.NEXT,
        public_jwk=public_members(dict(key.as_dict(private=False))),
        created_at=now,
        alg=alg,
    )


def signing_record(records: Sequence[KeyRecord], alg: str) -> KeyRecord | None:
    """The key that signs for `alg` (AUTHSERVER_SIGNING_ALG): its `current` key; while a
    newly chosen alg has only its `next` key, the `current` key of the former one (the
    one most recently promoted) until the next rotation."""
    current = find(records, KeyState.CURRENT, alg)
    if current is not None:
        return current
    others = [r for r in records if r.state is KeyState.CURRENT]
    return max(others, key=lambda r: r.activated_at or r.created_at, default=None)


def completed(
    records: list[KeyRecord], store: KeyStore, bits: int, now: datetime, algorithms: Algorithms
) -> list[KeyRecord]:
    """`records` with what `algorithms` need: a `next` key for each; a `current` key for
    each extra one, and for the first when no key signs at all (its `next` promoted, else
    a new one). The `next` keys of algorithms no longer in use are left out."""
    kept = [r for r in records if r.state is not KeyState.NEXT or r.alg in algorithms]
    for position, alg in enumerate(algorithms):
        signs = any(r.state is KeyState.CURRENT for r in kept)
        if find(kept, KeyState.CURRENT, alg) is None and (position > 0 or not signs):
            upcoming = find(kept, KeyState.NEXT, alg)
            if upcoming is None:
                upcoming = generate_signing_key(store, bits, now, alg)
                kept.append(upcoming)
            kept = [r.promoted(now) if r.kid == upcoming.kid else r for r in kept]
        if find(kept, KeyState.NEXT, alg) is None:
            kept.append(generate_signing_key(store, bits, now, alg))
    return kept


def incomplete(records: list[KeyRecord], algorithms: Algorithms) -> bool:
    """Whether `completed` would change `records`."""
    if any(r.state is KeyState.NEXT and r.alg not in algorithms for r in records):
        return True
    if not any(r.state is KeyState.CURRENT for r in records):
        return True
    return any(
        find(records, KeyState.NEXT, alg) is None
        or (position > 0 and find(records, KeyState.CURRENT, alg) is None)
        for position, alg in enumerate(algorithms)
    )


def find(records: list[KeyRecord], state: KeyState, alg: str | None = None) -> KeyRecord | None:
    return next((r for r in records if r.state is state and (alg is None or r.alg == alg)), None)
