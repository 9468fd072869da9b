"""The database engine and transactions: one per request or CLI command."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session


class Database:
    """Owns the engine; `transaction()` commits on success and rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = build_engine(url)
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


def is_storage_outage(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection: retry soon (503)."""
    return isinstance(error, OperationalError | InterfaceError)


def build_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


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
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_if_absent(session: Session, table: Any, values: dict[str, Any]) -> None:
    """INSERT a row unless its primary key exists, without failing the transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing())


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
