"""A short-lived, bounded, thread-safe cache of clients for the token endpoint's hot path.

A change to a client (deletion, new secret) reaches every process within
AUTHSERVER_CLIENT_CACHE_TTL seconds. Unknown client_ids are never cached, so a flood of
made-up ids cannot fill memory.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from authserver.clients.models import Client

_MAX_ENTRIES = 10_000


class ClientCache:
    def __init__(self, load: Callable[[str], Client | None], ttl: timedelta) -> None:
        self._load = load
        self._ttl = ttl.total_seconds()
        self._entries: OrderedDict[str, tuple[float, Client]] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, client_id: str) -> Client | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(client_id)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(client_id)
                return entry[1]
        client = self._load(client_id)
        if client is not None and self._ttl > 0:
            self._remember(client_id, client, now + self._ttl)
        return client

    def _remember(self, client_id: str, client: Client, expires_at: float) -> None:
        with self._lock:
            self._entries[client_id] = (expires_at, client)
            self._entries.move_to_end(client_id)
            while len(self._entries) > _MAX_ENTRIES:
                self._entries.popitem(last=False)
