"""One-row reads on the event loop, for introspection and /userinfo on either database.

`LoopReads` is what those paths need: `first(statement, parameters)`, the statement's
first row (attributes by column name) or None. PostgreSQL's is `AsyncDatabase`
(`authserver.async_db`: psycopg on the loop, one round trip). SQLite's is
`SqliteLoopReads`: the read runs right on the event loop, with no hop to a worker thread
(a hop and SQLAlchemy's session cost several times the read itself, a primary-key
lookup in a file the OS has cached):

- one connection per process, opened on the first read, in autocommit: each read is its
  own snapshot of what is committed, as `Database.reading` gives the thread path;
- `query_only`, and a busy timeout of 0: WAL mode (`authserver.db`) lets a reader run
  beside the writer, so the loop never waits on a lock. In the rare moment where SQLite
  still answers SQLITE_BUSY (a checkpoint that resets the log, recovery after a crash),
  the read is done again in a worker thread through the pool, which waits its turn;
- the statement is the same prebuilt Core statement, with SQLAlchemy's types reading
  the columns, as in a session;
- any other error drops the connection (the next read opens one) and goes to the
  caller: a database that is gone is a storage outage (503), as on the thread path.
"""

import asyncio
import sqlite3
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool

from authserver.async_db import AsyncDatabase, AsyncDatabaseClosedError, is_running_loop
from authserver.db import Database


class LoopReads(Protocol):
    @property
    def ready(self) -> bool: ...

    async def first(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any: ...


class SqliteLoopReads:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._engine = create_engine(
            database.url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "timeout": 0},
        )
        self._connection: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_database(cls, database: Database) -> "SqliteLoopReads | None":
        """For a SQLite file (an in-memory database is private to its connection)."""
        url = make_url(database.url)
        in_file = url.database not in (None, "", ":memory:")
        return cls(database) if url.get_backend_name() == "sqlite" and in_file else None

    @property
    def ready(self) -> bool:
        """Open, and on this event loop (the app's lifespan opened it)."""
        return is_running_loop(self._loop)

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None
        self._drop()
        self._engine.dispose()

    async def first(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any:
        if not self.ready:
            raise AsyncDatabaseClosedError("the loop reads are not open on this event loop")
        try:
            return self._connected().execute(statement, parameters).first()
        except Exception as error:
            self._drop()
            if not _is_busy(error):
                raise
        return await run_in_threadpool(self._read_in_thread, statement, parameters)

    def _read_in_thread(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any:
        with self._database.reading() as session:
            return session.connection().execute(statement, parameters).first()

    def _connected(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("PRAGMA query_only = ON")
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()
            connection.close()


def _is_busy(error: Exception) -> bool:
    original = error.orig if isinstance(error, OperationalError) else None
    return isinstance(original, sqlite3.OperationalError) and original.sqlite_errorcode in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def loop_reads_for(database: Database, async_db: AsyncDatabase | None) -> LoopReads | None:
    """PostgreSQL's event-loop pool, or SQLite's loop reads."""
    return async_db if async_db is not None else SqliteLoopReads.for_database(database)
