"""Scheduled key rotation inside a running server (docs/keys.md, "Automatic rotation").

Every process checks now and then whether rotation is due (`rotation_due`: the current
key has signed for AUTHSERVER_KEYS_ROTATION_INTERVAL and the next key has been published
for AUTHSERVER_KEYS_PUBLISH_BEFORE_USE). The first to take the database lease rotates;
the others see the new keys at their next key-store reload.
"""

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.events import record_rotation
from authserver.keys.keyring import key_retention
from authserver.keys.records import KeyRecord
from authserver.keys.rotation import Rotation, rotate_signing_keys, rotation_due
from authserver.keys.store import KeyStore
from authserver.leases import acquire_lease
from authserver.settings import Settings

log = logging.getLogger(__name__)

LEASE = "key-rotation"


class RotationSchedule:
    def __init__(self, settings: Settings, store: KeyStore, database: Database) -> None:
        self._settings = settings
        self._store = store
        self._database = database
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Why the last scheduled check failed (a read-only or full key directory, the
        # database), until one succeeds: /readyz shows it. Serving goes on meanwhile.
        self.failure: str | None = None

    @property
    def enabled(self) -> bool:
        return self._settings.keys_rotation_interval is not None

    def run_once(self, now: datetime) -> Rotation | None:
        """Rotate if due and if this process wins the lease; the rotation, else None."""
        interval = self._settings.keys_rotation_interval
        notice = self._settings.next_key_notice
        if interval is None:
            return None

        def due(records: list[KeyRecord]) -> bool:
            return rotation_due(records, now, interval=interval, notice=notice)

        if not due(self._store.read_records()):
            return None
        with self._database.transaction() as db:
            # Held until the new next key is old enough: no replica can be due before.
            if not acquire_lease(db, LEASE, self._holder, now, notice):
                return None
        # Checked again under the key store's lock: a slow rotation elsewhere may have
        # outlived the lease and be done by now.
        rotation = rotate_signing_keys(
            self._store,
            self._settings.keys_rsa_bits,
            now,
            retention=key_retention(self._settings),
            min_notice=notice,
            only_if=due,
            algorithms=self._settings.signing_algorithms,
        )
        if rotation is not None:
            log.info("rotated signing keys: %s now signs", rotation.promoted_kid)
            with self._database.transaction() as db:
                record_rotation(db, rotation, scheduled=True)
        return rotation

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="key-rotation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._check_every().total_seconds()):
            try:
                self.run_once(utcnow())
            except Exception as error:  # noqa: BLE001 - reported, retried at the next check
                self._failed(error)
            else:
                if self.failure is not None:
                    log.info("scheduled key rotation works again")
                self.failure = None

    def _failed(self, error: Exception) -> None:
        failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if failure != self.failure:  # the traceback once, not at every check
            log.error("scheduled key rotation failed", exc_info=error)
        else:
            log.error("scheduled key rotation still fails: %s", failure)
        self.failure = failure

    def _check_every(self) -> timedelta:
        interval = self._settings.keys_rotation_interval or timedelta(minutes=1)
        shortest = min(interval, self._settings.next_key_notice) / 4
        return max(timedelta(milliseconds=200), min(timedelta(seconds=30), shortest))
