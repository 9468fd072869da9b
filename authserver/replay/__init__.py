"""Single-use values: a `jti` accepted once within its lifetime, on every replica.

RFC 7523 §3 (a client assertion's `jti`) and RFC 9449 §11.1 (a DPoP proof's) ask the
server to refuse a value it has seen before. With AUTHSERVER_REDIS_URL the values live in
Redis (`SET NX EXAT`, one round trip); without it, or while Redis does not answer, in the
`used_jtis` table (an INSERT that conflicts on a value seen), which every replica shares
as well. Expired rows are deleted by `authserver db purge`.

Only a SHA-256 of (purpose, issuer, value) is stored: the values themselves are never
kept, and the purposes (`client_assertion`, `dpop`) cannot collide.
"""

import hashlib
from datetime import UTC, datetime

from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlmodel import Session

from authserver.db import Database, dialect_insert
from authserver.replay.models import UsedJti
from authserver.throttling.shared import SharedCounters

__all__ = ["ReplayGuard", "UsedJti"]


class ReplayGuard:
    def __init__(self, database: Database, counters: SharedCounters) -> None:
        self._database = database
        self._counters = counters

    def first_use(
        self, purpose: str, issuer: str, value: str, expires_at: int, db: Session | None = None
    ) -> bool:
        """True the first time (purpose, issuer, value) is presented before `expires_at`
        (seconds since the epoch), False for a replay. `db`: the caller's transaction,
        to write in (SQLite allows one writer at a time); else a transaction of its own."""
        digest = hashlib.sha256(f"{purpose}\x00{issuer}\x00{value}".encode()).hexdigest()
        return self._counters.use(
            lambda: self._in_redis(digest, expires_at),
            lambda: self._in_database(digest, expires_at, db),
        )

    def _in_redis(self, digest: str, expires_at: int) -> bool:
        storage = self._counters.redis
        assert storage is not None
        key = f"{self._counters.key_prefix}:jti:{digest}"
        try:
            client = storage.storage  # type: ignore[attr-defined]
            return bool(client.set(key, b"1", nx=True, exat=max(expires_at, 1)))
        except RedisError as error:
            raise StorageError(error) from error

    def _in_database(self, digest: str, expires_at: int, db: Session | None) -> bool:
        row = {"key_hash": digest, "expires_at": datetime.fromtimestamp(expires_at, UTC)}
        if db is not None:
            return _insert(db, row)
        with self._database.transaction() as own:
            return _insert(own, row)


def _insert(db: Session, row: dict[str, object]) -> bool:
    # RETURNING, not the row count: psycopg reports none for INSERT ... ON CONFLICT.
    statement = (
        dialect_insert(db, UsedJti)
        .values(**row)
        .on_conflict_do_nothing()
        .returning(UsedJti.key_hash)  # type: ignore[arg-type]
    )
    return db.execute(statement).first() is not None
