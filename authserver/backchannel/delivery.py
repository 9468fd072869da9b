"""Delivering the outbox: a thread in every server process.

Every `AUTHSERVER_OUTBOX_INTERVAL` it ends the sessions that have expired since the last
look (each one's clients get a Logout Token: a session that times out is a session that
ended, §2.7), then claims the due messages and POSTs each one's Logout Token as
`logout_token` (§2.5), outside any transaction. A 2xx answer delivers it; anything else
(an error status, a timeout, a refused address) is retried after 1, 2, 4 ... intervals,
never more than `AUTHSERVER_OUTBOX_MAX_BACKOFF` apart, and given up once it is older than
`AUTHSERVER_BACKCHANNEL_LOGOUT_GIVE_UP`: kept in the table with its last error, audited
(`backchannel_logout.given_up`) and listed by `authserver outbox list`.
"""

import logging
import threading
from datetime import datetime, timedelta

import httpx

from authserver.audit import record_event
from authserver.backchannel.outbound import outbound_refusal
from authserver.backchannel.outbox import (
    Claimed,
    any_due,
    claim_due,
    settle_delivered,
    settle_failed,
)
from authserver.backchannel.tokens import LogoutTokenIssuer
from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.keyring import KeyRing
from authserver.login.repository import SessionRepository
from authserver.login.sessions import end_expired_sessions
from authserver.settings import Settings

log = logging.getLogger(__name__)

BATCH = 20
TIMEOUT = httpx.Timeout(5.0)
# Expired sessions are looked for every 10 rounds, at most every 5 s.
SWEEP_ROUNDS = 10
SWEEP_AT_MOST_EVERY = timedelta(seconds=5)


class OutboxDelivery:
    def __init__(self, settings: Settings, database: Database, keyring: KeyRing) -> None:
        self._settings = settings
        self._database = database
        self._tokens = LogoutTokenIssuer(settings.issuer, keyring, timedelta(minutes=2))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._swept_at: datetime | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as http:
            while not self._stop.wait(self._settings.outbox_interval.total_seconds()):
                try:
                    self.run_once(http, utcnow())
                except Exception as error:  # noqa: BLE001 - logged; the next round retries
                    log.error("outbox round failed: %s: %s", type(error).__name__, error)

    def run_once(self, http: httpx.Client, now: datetime) -> int:
        """Sweep expired sessions (every few seconds), then deliver what is due; the
        number of messages attempted."""
        sweep_every = min(self._settings.outbox_interval * SWEEP_ROUNDS, SWEEP_AT_MOST_EVERY)
        idle_ttl = self._settings.session_idle_ttl
        if self._swept_at is None or now - self._swept_at >= sweep_every:
            # Read first: an idle server never takes SQLite's write lock for nothing.
            with self._database.reading() as db:
                expired = SessionRepository(db).expired_unended(now, idle_ttl)
            if expired:
                with self._database.transaction() as db:
                    end_expired_sessions(db, now, idle_ttl)
            self._swept_at = now
        with self._database.reading() as db:
            if not any_due(db, now):
                return 0
        with self._database.transaction() as db:
            claimed = claim_due(db, now, BATCH)
        for message in claimed:
            self._deliver(http, message)
        return len(claimed)

    def _deliver(self, http: httpx.Client, message: Claimed) -> None:
        error = outbound_refusal(message.target_uri, self._settings.outbound_private_allowed)
        if error is None:
            token = self._tokens.issue(message.client_id, message.subject, message.sid)
            error = _post(http, message.target_uri, token)
        now = utcnow()
        with self._database.transaction() as db:
            if error is None:
                settle_delivered(db, message, now)
                return
            if now - message.created_at >= self._settings.backchannel_logout_give_up:
                settle_failed(db, message, error, now, None)
                record_event(
                    db,
                    "backchannel_logout.given_up",
                    client_id=message.client_id,
                    sid=message.sid,
                    attempts=message.attempts + 1,
                    error=error,
                )
                log.warning("gave up a Logout Token to %s: %s", message.client_id, error)
            else:
                settle_failed(db, message, error, now, now + self._backoff(message.attempts))

    def _backoff(self, attempts: int) -> timedelta:
        wait = self._settings.outbox_interval * (2 ** min(attempts, 20))
        return min(wait, self._settings.outbox_max_backoff)


def _post(http: httpx.Client, uri: str, token: str) -> str | None:
    """None once the client took it (§2.8: 200, or any 2xx); else what went wrong."""
    try:
        with http.stream("POST", uri, data={"logout_token": token}) as response:
            if 200 <= response.status_code < 300:
                return None
            return f"answered {response.status_code}"
    except httpx.HTTPError as error:
        return type(error).__name__
