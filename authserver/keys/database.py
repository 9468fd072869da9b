"""The database key store (AUTHSERVER_KEYS_STORE=database): signing keys shared by every
replica of a fleet through the one database they already share.

- One row per key (`signing_keys`): its state and dates, its public JWK, and its private
  key sealed with the passphrase. Lifecycle changes rewrite the rows in one transaction.
- `locked()` is that transaction, holding a PostgreSQL advisory lock (SQLite's
  `BEGIN IMMEDIATE` already serialises writers), so replicas starting together on an
  empty store create exactly one pair of keys, and rotations never interleave.
- Every change sends `NOTIFY authserver_signing_keys`; each server process LISTENs
  (`wait_for_change`) and reloads at once. A lost notification (a dropped connection) is
  caught by the poll every AUTHSERVER_KEYS_RELOAD_INTERVAL; SQLite only polls.
"""

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from authserver.db import Database
from authserver.errors import KeyStoreError
from authserver.keys.algorithms import PrivateJwk
from authserver.keys.material import protect, recover
from authserver.keys.models import SigningKey
from authserver.keys.records import KeyRecord

log = logging.getLogger(__name__)

CHANNEL = "authserver_signing_keys"
# pg_advisory_xact_lock takes a bigint; this one is "authkeys" in ASCII.
_LOCK_ID = 0x617574686B657973
_LISTEN_SLICE_SECONDS = 1.0


class DatabaseKeyStore:
    def __init__(self, database: Database, passphrase: str | None) -> None:
        self.description = "the database key store"
        self._database = database
        self._passphrase = passphrase
        self._postgresql = database.engine.dialect.name == "postgresql"
        self._pending: dict[str, str] = {}
        self._listener: psycopg.Connection | None = None

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._database.transaction() as db:
            if self._postgresql:
                db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            try:
                yield
            finally:
                self._pending.clear()

    def read_records(self) -> list[KeyRecord]:
        with self._database.transaction() as db:
            rows = db.exec(
                select(SigningKey).order_by(col(SigningKey.created_at), col(SigningKey.kid))
            ).all()
            try:
                return [_record(row) for row in rows]
            except (ValueError, KeyError, TypeError) as error:
                raise KeyStoreError(
                    f"a row of signing_keys is damaged: {type(error).__name__}"
                ) from None

    def write_records(self, records: list[KeyRecord]) -> None:
        """Make the rows these records, in the current (locked) transaction."""
        with self._database.transaction() as db:
            existing = {row.kid: row for row in db.exec(select(SigningKey)).all()}
            for record in records:
                row = existing.pop(record.kid, None)
                if row is None:
                    stored = self._pending.pop(record.kid, None)
                    if stored is None:
                        raise KeyStoreError(f"no private key was saved for {record.kid}")
                    row = SigningKey(kid=record.kid, private_key=stored, state="", public_jwk="")
                data = record.to_json()
                row.state, row.public_jwk = data["state"], json.dumps(data["public_jwk"])
                row.created_at, row.activated_at = record.created_at, record.activated_at
                row.retired_at, row.remove_after = record.retired_at, record.remove_after
                db.add(row)
            for gone in existing.values():
                db.delete(gone)
            db.flush()
            if self._postgresql:
                db.execute(text(f"NOTIFY {CHANNEL}"))

    def save_private_key(self, key: PrivateJwk) -> None:
        """Kept until `write_records` gives it a row (inside `locked()`)."""
        self._pending[key.thumbprint()] = protect(key, self._passphrase)

    def load_private_key(self, kid: str) -> PrivateJwk:
        stored = self._pending.get(kid)
        if stored is None:
            with self._database.transaction() as db:
                row = db.get(SigningKey, kid)
                stored = row.private_key if row is not None else None
        if stored is None:
            raise KeyStoreError(f"the private key of {kid} is missing from the database")
        return recover(stored, kid, self._passphrase, f"signing key {kid}")

    def delete_private_key(self, kid: str) -> None:
        with self._database.transaction() as db:
            row = db.get(SigningKey, kid)
            if row is not None:
                db.delete(row)

    def change_marker(self) -> object:
        statement = select(
            SigningKey.kid, SigningKey.state, SigningKey.activated_at, SigningKey.remove_after
        ).order_by(col(SigningKey.kid))
        with self._database.transaction() as db:
            return tuple(tuple(row) for row in db.exec(statement).all())

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        """Return when another process changed the keys (PostgreSQL), `timeout` passed,
        or `stop` was set."""
        if not self._postgresql:
            stop.wait(timeout)
            return
        remaining = timeout
        while remaining > 0 and not stop.is_set():
            slice_seconds = min(_LISTEN_SLICE_SECONDS, remaining)
            try:
                notified = self._listening().notifies(timeout=slice_seconds, stop_after=1)
                if any(True for _ in notified):
                    return
            except psycopg.Error as error:
                log.warning("key store notifications lost, polling instead: %s", error)
                self.close()
                stop.wait(slice_seconds)
            remaining -= slice_seconds

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _listening(self) -> psycopg.Connection:
        if self._listener is None:
            url = make_url(self._database.url).set(drivername="postgresql")
            connection = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
            )
            connection.execute(f"LISTEN {CHANNEL}")
            self._listener = connection
        return self._listener


def _record(row: SigningKey) -> KeyRecord:
    return KeyRecord.from_json(
        {
            "kid": row.kid,
            "state": row.state,
            "public_jwk": json.loads(row.public_jwk),
            "created_at": row.created_at.isoformat(),
            "activated_at": row.activated_at.isoformat() if row.activated_at else None,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None,
            "remove_after": row.remove_after.isoformat() if row.remove_after else None,
        }
    )
