"""Audit events written in batches, for the requests that have no transaction of their own.

A client_credentials token is signed without touching the database (its speed depends
on it), so its `token.issued` event is queued and a background thread inserts the
queue at most AUTHSERVER_AUDIT_FLUSH_INTERVAL later, in one transaction per batch.
The log line is written at once. If the database is unreachable the batch is kept and
retried, up to a bound; beyond it the oldest events are dropped, with an error logged
(the log line of each is still there). At shutdown the queue is written out.
"""

import logging
import threading
from collections import deque
from datetime import timedelta

from authserver.audit.events import AUDIT_TABLE, Row, prepare_event
from authserver.db import Database

log = logging.getLogger(__name__)

MAX_QUEUED = 50_000
_BATCH = 1_000


class AuditBuffer:
    def __init__(self, database: Database, flush_interval: timedelta) -> None:
        self._database = database
        self._interval = flush_interval.total_seconds()
        self._queue: deque[Row] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def record(self, event: str, **fields: object) -> None:
        """Log the event now; store it with the next batch."""
        row = prepare_event(event, **fields)  # type: ignore[arg-type]
        with self._lock:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(row)

    def flush(self) -> int:
        """Insert everything queued; the number of events written."""
        written = 0
        while True:
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            if not batch:
                return written
            try:
                with self._database.transaction() as db:
                    db.execute(AUDIT_TABLE.insert(), batch)
            except Exception:
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                raise
            written += len(batch)

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
