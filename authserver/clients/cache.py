"""A short-lived, bounded, thread-safe cache of clients for the token endpoint's hot path.

A change to a client (deletion, new secret) reaches every process within
AUTHSERVER_CLIENT_CACHE_TTL seconds. So does a new client: an unknown client_id is
remembered as unknown for that long too, so that a flood of requests for one made-up id
asks the database once, not once per request. Both kinds of entry are bounded (least
recently used out first), so a flood of distinct made-up ids cannot fill memory.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from authserver.clients.models import Client

_MAX_ENTRIES = 10_000
_MAX_MISSES = 10_000


class ClientCache:
    def __init__(self, load: Callable[[str], Client | None], ttl: timedelta) -> None:
        self._load = load
        self._ttl = ttl.total_seconds()
        self._entries: OrderedDict[str, tuple[float, Client]] = OrderedDict()
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, client_id: str) -> Client | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(client_id)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(client_id)
                return entry[1]
            if self._misses.get(client_id, 0.0) > now:
                return None
        client = self._load(client_id)
        if self._ttl > 0:
            self._remember(client_id, client, now + self._ttl)
        return client

    def forget(self, client_id: str) -> None:
        """Drop what this process remembers of a client it just changed or deleted (after
        the commit), so that the change holds here at once; other processes still see it
        within the TTL."""
        with self._lock:
            self._entries.pop(client_id, None)
            self._misses.pop(client_id, None)

    def knows(self, client_id: str) -> bool:
        """Whether `find` would answer from memory, without loading (a hit or a miss)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(client_id)
            return (entry is not None and entry[0] > now) or self._misses.get(client_id, 0.0) > now

    def _remember(self, client_id: str, client: Client | None, expires_at: float) -> None:
        with self._lock:
            if client is None:
                self._misses[client_id] = expires_at
                self._misses.move_to_end(client_id)
                while len(self._misses) > _MAX_MISSES:
                    self._misses.popitem(last=False)
                return
            self._misses.pop(client_id, None)
            self._entries[client_id] = (expires_at, client)
            self._entries.move_to_end(client_id)
            while len(self._entries) > _MAX_ENTRIES:
                self._entries.popitem(last=False)
