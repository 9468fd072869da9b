"""One fetch at a time, and at most one started per interval, for threads and event loops alike.

A caller asks `begin()`: it either owns the next fetch (and must call `end()`), or is told
about the fetch in flight (to wait for it, sync or async), or is told nothing may start
yet (the last one began less than `min_interval` ago). So a flood of tokens with made-up
`kid`s costs the issuer one request per interval, and N threads asking at once for the
same new `kid` cause one fetch and all see its result.
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class InFlight:
    """A fetch under way; threads `wait()`, coroutines `await wait_async()`."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._wakers: list[Callable[[], None]] = []

    def wait(self, timeout: float) -> None:
        self._done.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, woken)

        with self._lock:
            if self._done.is_set():
                return
            self._wakers.append(wake)
        await asyncio.wait({woken}, timeout=timeout)

    def finish(self) -> None:
        with self._lock:
            self._done.set()
            wakers, self._wakers = self._wakers, []
        for wake in wakers:
            with contextlib.suppress(RuntimeError):  # that event loop has closed meanwhile
                wake()


@dataclass(frozen=True)
class Ticket:
    """`owner`: this caller fetches, then calls `end()`. Else `in_flight` may be waited for."""

    owner: bool
    in_flight: InFlight | None


# Once the held key set has expired (its max-age has passed), a fetch may start this soon
# after the last: the issuer's max-age, not our interval, then sets the pace, so a verifier
# never misses a key published one max-age before it signs (docs/keys.md).
EXPIRED_SET_INTERVAL = 1.0


class RefetchGate:
    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._started_at: float | None = None
        self._in_flight: InFlight | None = None

    def begin(self, *, expired: bool = False) -> Ticket:
        """`expired`: the held set is past its max-age, so the shorter interval applies."""
        interval = min(self.min_interval, EXPIRED_SET_INTERVAL) if expired else self.min_interval
        with self._lock:
            if self._in_flight is not None:
                return Ticket(owner=False, in_flight=self._in_flight)
            now = self._clock()
            if self._started_at is not None and now - self._started_at < interval:
                return Ticket(owner=False, in_flight=None)
            self._started_at = now
            self._in_flight = InFlight()
            return Ticket(owner=True, in_flight=self._in_flight)

    def begin_owned(self, *, expired: bool = False) -> bool:
        """Start a fetch if one may start now; never wait for another (a stale set will do)."""
        return self.begin(expired=expired).owner

    def end(self) -> None:
        with self._lock:
            in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.finish()


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
