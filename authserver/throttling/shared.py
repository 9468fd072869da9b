"""The shared counters: Redis when configured and answering, else this process's memory.

A Redis error is never a failed request. It opens a breaker for RETRY_AFTER seconds,
during which callers use their fallback (memory, or the database) without waiting on
Redis again; then Redis is tried anew. The first failure and the recovery are logged,
and `status()` feeds /readyz.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_SECONDS = 5.0
# A Redis on the same network answers in well under a millisecond; waiting longer only
# holds up the request (the event loop, for the token endpoint).
_TIMEOUT_SECONDS = 0.25


class SharedCounters:
    def __init__(self, redis_url: str | None, key_prefix: str = "authserver") -> None:
        self.memory = MemoryStorage()
        self.redis: Storage | None = None
        self.key_prefix = key_prefix
        if redis_url is not None:
            self.redis = RedisStorage(
                redis_url,
                key_prefix=key_prefix,
                wrap_exceptions=True,
                socket_timeout=_TIMEOUT_SECONDS,
                socket_connect_timeout=_TIMEOUT_SECONDS,
            )
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self.error: str | None = None

    @property
    def configured(self) -> bool:
        return self.redis is not None

    def use(self, with_redis: Callable[[], T], fallback: Callable[[], T]) -> T:
        """`with_redis()` while Redis answers; `fallback()` while it does not."""
        if self.redis is None or time.monotonic() < self._retry_at:
            return fallback()
        try:
            result = with_redis()
        except StorageError as error:
            self._failed(error)
            return fallback()
        if self.error is not None:
            self._recovered()
        return result

    def status(self) -> str:
        """`ok`, `down` (serving with the fallback) or `not configured`, as last seen."""
        if self.redis is None:
            return "not configured"
        return "down" if self.error is not None else "ok"

    def probe(self) -> str:
        """Ask Redis now (PING, for /readyz), then `status()`."""
        if self.redis is not None and time.monotonic() >= self._retry_at:
            if self.redis.check():
                if self.error is not None:
                    self._recovered()
            else:
                self._failed(StorageError(ConnectionError("PING got no answer")))
        return self.status()

    def _failed(self, error: StorageError) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
            first = self.error is None
            cause = getattr(error, "storage_error", error)
            self.error = f"{type(cause).__name__}: {cause}"
        if first:
            log.error(
                "Redis does not answer (%s): rate limits count in this process and the "
                "sign-in throttle in the database until it is back",
                self.error,
            )

    def _recovered(self) -> None:
        with self._lock:
            self.error = None
        log.warning("Redis answers again: limits are shared across replicas once more")
