"""Refusing a DPoP proof seen before (RFC 9449 §11.1) at a resource service: the proofs'
`jti`s, each kept until the proof would be refused as too old anyway.

`SeenProofs` is one process's memory, bounded: at most `max_entries` proofs within their
window (about 48 bytes of digest and an expiry each, some 15 MiB for the default 100,000).
When that many unexpired proofs are held, a new one is refused (fail closed: never
forgotten early, so never replayable) until some expire; size it above the number of
DPoP requests the service answers in `max age + 2 x leeway` (two minutes by default).
A fleet of replicas needs a shared store instead: anything with `first_use` (see
`ProofReplayStore`; docs/dpop.md has one on Redis).
"""

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol


class ProofReplayStore(Protocol):
    def first_use(self, key: str, expires_at: int, now: int) -> bool:
        """True the first time `key` is seen before `expires_at` (seconds since the
        epoch), False for a replay (or when the proof cannot be remembered)."""
        ...


class SeenProofs:
    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        # digest -> expiry, in the order seen: proofs' expiries differ by at most their
        # clock skew, so the oldest entries are the first to expire.
        self._seen: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: int, now: int) -> bool:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        with self._lock:
            self._forget_expired(now)
            known = self._seen.get(digest)
            if known is not None and known > now:
                return False
            if len(self._seen) >= self.max_entries:
                return False
            self._seen[digest] = expires_at
            return True

    def __len__(self) -> int:
        return len(self._seen)

    def _forget_expired(self, now: int) -> None:
        seen = self._seen
        while seen:
            digest, expires_at = next(iter(seen.items()))
            if expires_at > now:
                return
            del seen[digest]
