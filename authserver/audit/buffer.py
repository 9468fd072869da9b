"""Audit events written in batches, for the requests that have no transaction of their own.

A client_credentials token is signed without touching the database (its speed depends
on it), so its `token.issued` event is queued, with the moment and the request context,
and a background thread logs, counts and inserts the queue at most
AUTHSERVER_AUDIT_FLUSH_INTERVAL later, in one transaction per batch. Its log lines come
from that thread, each with the event's `occurred_at` and `request_id`. If the database
is unreachable the rows are kept and retried, up to a bound; beyond it the oldest are
dropped, with an error logged (each was logged already). At shutdown the queue is
written out.
"""

import logging
import threading
from collections import deque
from datetime import datetime, timedelta

from authserver.audit.events import Row, announce_event, insert_event_rows
from authserver.audit.events import log as audit_log
from authserver.clock import utcnow
from authserver.context import RequestContext, current_context
from authserver.db import Database
from authserver.logs import emit_records
from authserver.metrics import count_event

log = logging.getLogger(__name__)

MAX_QUEUED = 50_000
_BATCH = 1_000


class AuditBuffer:
    def __init__(self, database: Database, flush_interval: timedelta) -> None:
        self._database = database
        self._interval = flush_interval.total_seconds()
        self._arrived: deque[tuple[str, RequestContext | None, datetime, dict[str, object]]] = (
            deque()
        )
        self._queue: deque[Row] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def record(self, event: str, **fields: object) -> None:
        """Queue the event: it is logged, counted and stored with the next batch. On the
        request's path this costs a tuple and an append (deque appends are atomic)."""
        count_event(event, fields)
        self._arrived.append((event, current_context(), utcnow(), fields))

    def enqueue(self, rows: list[Row]) -> None:
        """Queue rows `prepare_event` made (it logged and counted them already), for a
        change that committed on its own (a refresh rotation on the event loop)."""
        for row in rows:
            self._queue_row(row)

    def flush(self) -> int:
        """Log, count and insert everything queued; the number of events written."""
        self._announce_arrivals()
        written = 0
        while True:
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            if not batch:
                return written
            try:
                with self._database.transaction() as db:
                    insert_event_rows(db.connection(), batch)
            except Exception:
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                raise
            written += len(batch)

    def _announce_arrivals(self) -> None:
        lines: list[logging.LogRecord] = []
        while self._arrived:
            event, context, occurred_at, fields = self._arrived.popleft()
            row = announce_event(event, context, occurred_at, log_lines=lines, **fields)  # type: ignore[arg-type]
            self._queue_row(row)
        emit_records(audit_log, lines)

    def _queue_row(self, row: Row) -> None:
        """Queue a row to insert; with the queue full, the oldest is dropped for it."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(row)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="audit-buffer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        except Exception:
            log.exception("audit events could not be written at shutdown")

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:
                log.error("audit events could not be written; retrying", exc_info=True)
            if self.dropped:
                log.error("%d audit events were dropped: the queue was full", self.dropped)
                self.dropped = 0
