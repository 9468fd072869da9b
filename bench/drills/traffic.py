"""Load for the drills: a few threads, each running one loop of requests until stopped,
every request recorded as an `Exchange` (what was asked, when, and what came back).

Times are `time.monotonic()` seconds, the clock the drills mark their events with.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

BODY_KEPT = 600  # bytes of a response body kept for the report (non-200s only)
TRACE_MARKERS = ("Traceback", 'File "/', "sqlalchemy", "psycopg", "OperationalError")


@dataclass(frozen=True)
class Exchange:
    kind: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (connection refused, reset, timed out)
    error: str = ""  # the transport error's class, when status is None
    body: bytes = b""
    content_type: str = ""
    retry_after: str | None = None
    request_id: str | None = None

    @property
    def leaks_a_trace(self) -> bool:
        text = self.body.decode("utf-8", "replace")
        return any(marker in text for marker in TRACE_MARKERS)

    def error_code(self) -> str | None:
        """The RFC 6749 §5.2 `error` of a JSON error body, if it is one."""
        if not self.content_type.startswith("application/json"):
            return None
        try:
            value = json.loads(self.body).get("error")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


Loop = Callable[["Traffic"], None]


class Traffic:
    """Threads running loops; `call` makes and records one request."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures: list[str] = []

    def add(self, name: str, loop: Loop) -> None:
        self._threads.append(
            threading.Thread(target=self._run, args=(loop,), name=name, daemon=True)
        )

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the traffic stops."""
        self._stop.wait(seconds)

    def call(
        self,
        http: httpx.Client,
        kind: str,
        method: str,
        path: str,
        *,
        keep_body: bool = False,
        **options: Any,
    ) -> tuple[Exchange, httpx.Response | None]:
        """One request, recorded; the body is kept whole with `keep_body`, else only the
        first BODY_KEPT bytes of an answer other than 200 or 303."""
        started = time.monotonic()
        try:
            response = http.request(method, path, **options)
        except httpx.TransportError as error:
            exchange = Exchange(kind, started, time.monotonic(), None, type(error).__name__)
            self._record(exchange)
            return exchange, None
        ok = response.status_code in (200, 303)
        exchange = Exchange(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            body=response.content if keep_body else b"" if ok else response.content[:BODY_KEPT],
            content_type=response.headers.get("content-type", ""),
            retry_after=response.headers.get("retry-after"),
            request_id=response.headers.get("x-request-id"),
        )
        self._record(exchange)
        return exchange, response

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _run(self, loop: Loop) -> None:
        try:
            loop(self)
        except Exception as error:  # noqa: BLE001 - a broken loop is reported, not fatal
            with self._lock:
                self.failures.append(f"{threading.current_thread().name}: {error!r}")

    def of_kind(self, kind: str) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.kind == kind]


def status_counts(exchanges: list[Exchange]) -> dict[str, int]:
    """How many of each status ("error" for no HTTP answer), in status order."""
    counts: dict[str, int] = {}
    for exchange in exchanges:
        key = "error" if exchange.status is None else str(exchange.status)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
