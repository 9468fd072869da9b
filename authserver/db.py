"""The database engine and transactions: one per request or CLI command."""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Column, DateTime, Dialect, Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session


class Database:
    """Owns the engine; `transaction()` commits on success and rolls back on error."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self.engine = build_engine(url, pool_size=pool_size)
        # Plain reads take a pooled connection in autocommit (reset when it goes back).
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._current: ContextVar[Session | None] = ContextVar("transaction", default=None)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A transaction; inside another one of the same thread or task, that one.

        Joining keeps one transaction per request even when a lookup deep inside (a
        client not yet cached) asks for its own, and SQLite's single writer cannot
        wait on itself.
        """
        if (outer := self._current.get()) is not None:
            yield outer
            return
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            token = self._current.set(session)
            try:
                yield session
            finally:
                self._current.reset(token)

    @contextmanager
    def separate_transaction(self) -> Iterator[Session]:
        """A transaction of its own, committed at once whatever the caller's does next
        (a status-list block must never be handed out twice). Never open one inside a
        transaction of the same thread on SQLite: its single writer would wait on itself."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Reads outside a transaction, each statement its own snapshot: no BEGIN and
        COMMIT round trips, and on SQLite no write lock. For work that only reads and
        whose reads need no common snapshot (one statement, or independent ones).
        Inside a transaction of this thread or task, that transaction."""
        if (outer := self._current.get()) is not None:
            yield outer
            return
        with self._reader.connect() as connection, Session(bind=connection) as session:
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


# The database could not be reached, dropped the connection, or no pooled connection
# came free in time: retry soon (503). psycopg's own errors come from the reads that
# run on the event loop without SQLAlchemy (`authserver.async_db`).
STORAGE_OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    # SQLite's reads on the event loop (`authserver.loop_reads`) use the driver directly.
    sqlite3.OperationalError,
)


def is_storage_outage(error: BaseException) -> bool:
    return isinstance(error, STORAGE_OUTAGES)


_POOL_TIMEOUT_SECONDS = 10


def build_engine(url: str, pool_size: int = 10, **options: Any) -> Engine:
    """A pool of `pool_size` connections and no overflow: a request beyond it waits for a
    connection (at most `_POOL_TIMEOUT_SECONDS`) rather than opening one to close it
    again, whose set-up made the slowest hundredth of requests a hundred times slower."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=_POOL_TIMEOUT_SECONDS,
            **options,
        )
        event.listen(engine.pool, "checkout", _ping_if_idle)
        event.listen(engine.pool, "checkin", _note_checkin)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


# A connection that waited this long in the pool is pinged before use (a restarted
# server, a proxy's idle timeout); a busy one is not: SQLAlchemy's pool_pre_ping would
# add a round trip to every checkout. A connection that breaks mid-request fails that
# request (503) and SQLAlchemy drops the pool's stale connections.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is not None and time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # leave it idle, as the pool hands connections out
    except Exception as error:
        raise DisconnectionError() from error


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; several processes may share the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLAlchemy emits BEGIN itself (below), instead of the driver's deferred one.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY when
    # another process wrote in between; taking the write lock at BEGIN makes it wait instead.
    # SQLite is the single-machine default: serialising its transactions costs little.
    # `Database.reading()` runs without a transaction, and so without the lock.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_if_absent(session: Session, table: Any, values: dict[str, Any]) -> None:
    """INSERT a row unless its primary key exists, without failing the transaction."""
    session.execute(dialect_insert(session, table).values(**values).on_conflict_do_nothing())


def dialect_insert(session: Session, table: Any) -> Any:
    """The INSERT of the session's database, which knows `on_conflict_do_nothing`."""
    dialect = session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)


def rows_changed(result: object) -> int:
    """The row count of an UPDATE or DELETE result (0 where the driver gives none)."""
    return int(getattr(result, "rowcount", 0) or 0)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use authserver.clock.utcnow()")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def moment_column(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    """A UTC timestamp column."""
    return Column(UtcDateTime(), nullable=nullable, index=index)
