"""Per-client rate limits of /token, /revoke and /introspect (AUTHSERVER_CLIENT_RATE_LIMIT).

Each endpoint counts each client on its own, with a sliding window (`limits`): in Redis
when configured, so N replicas allow the limit once and not N times; in this process
otherwise, or while Redis does not answer (fail open to per-process counting: a Redis
outage never turns clients away). Over the limit: 429 with Retry-After.
"""

import time

from limits import RateLimitItem
from limits.strategies import SlidingWindowCounterRateLimiter

from authserver.throttling.shared import SharedCounters


class ClientRateLimit:
    def __init__(self, counters: SharedCounters, items: list[RateLimitItem]) -> None:
        self._counters = counters
        self._items = items
        self._local = SlidingWindowCounterRateLimiter(counters.memory)
        self._shared = SlidingWindowCounterRateLimiter(counters.redis) if counters.redis else None

    def retry_after(self, client_id: str, endpoint: str) -> float | None:
        """Count one request: None if allowed, else seconds until it would be."""
        if not self._items:
            return None
        return self._counters.use(
            lambda: self._check(self._shared, client_id, endpoint),  # type: ignore[arg-type]
            lambda: self._check(self._local, client_id, endpoint),
        )

    def _check(
        self, limiter: SlidingWindowCounterRateLimiter, client_id: str, endpoint: str
    ) -> float | None:
        for item in self._items:
            if not limiter.hit(item, endpoint, client_id):
                reset_at = limiter.get_window_stats(item, endpoint, client_id).reset_time
                return max(0.0, reset_at - time.time())
        return None
