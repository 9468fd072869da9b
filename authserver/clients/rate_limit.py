"""A per-client rate limit for /revoke and /introspect (SECURITY-CHECKLIST: rate-limited).

A token bucket per client_id, in each server process: AUTHSERVER_CLIENT_RATE_LIMIT
requests per second, with bursts of twice that. With N processes a client may get up to
N times the rate; the limit is against floods, not a quota. 0 turns it off.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

_MAX_CLIENTS = 10_000


class ClientRateLimit:
    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._burst = 2 * per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, client_id: str) -> float | None:
        """Take one request from the client's bucket: None if allowed, else seconds to wait."""
        if self._rate <= 0:
            return None
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(client_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - then) * self._rate)
            allowed = tokens >= 1
            self._buckets[client_id] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return None if allowed else (1 - tokens) / self._rate
