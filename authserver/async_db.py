"""PostgreSQL on the event loop, for the hottest paths: introspecting a JWT (one read) and
rotating a refresh token (one short transaction), without a hop to a worker thread.

A statement through `Database` costs a thread hop, the GIL handed back and forth with
the event loop, and SQLAlchemy's session and result machinery around it: together more
than the statement's own round trip. Here the same prebuilt Core statements, compiled
once for PostgreSQL, run on psycopg `AsyncConnection`s from a small pool this process's
event loop owns (autocommit: a read is its own snapshot, as in `Database.reading`).

- `first(statement, parameters)`: one read, one round trip.
- `transaction()`: `BEGIN` and the first statement in one round trip (psycopg's pipeline
  mode), then the rest and `COMMIT` in another. Leaving the block without `commit` rolls
  everything back; an exception, a cancelled request included, drops the connection,
  which ends its transaction on the server.

The pool opens no connection before the first use, holds at most `size`, and never waits
for a connection to come up: an unreachable database fails the request at once
(`is_storage_outage`, 503), as the thread path does. A connection that breaks is
dropped, and a first round trip on a connection idle for `PING_AFTER_IDLE_SECONDS` or
more that fails as broken is tried once more on a fresh one (nothing ran yet).

SQLite has no such pool (`for_database` returns None): its requests stay in threads.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement

from authserver.db import PING_AFTER_IDLE_SECONDS, Database

# Enough for thousands of requests a second per process: each holds a connection for
# one or two round trips, and only this process's event loop uses them.
DEFAULT_CONNECTIONS = 4
CONNECT_TIMEOUT_SECONDS = 5

Connection = psycopg.AsyncConnection[Any]
Parameters = Mapping[str, Any]


class AsyncDatabaseClosedError(RuntimeError):
    """A statement after `close()`, or from another event loop than the pool's."""


class CompiledStatements:
    """Core statements compiled once for one dialect, by identity."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[int, tuple[ClauseElement, str]] = {}

    def sql(self, statement: ClauseElement) -> str:
        cached = self._compiled.get(id(statement))
        if cached is None or cached[0] is not statement:
            cached = (statement, str(statement.compile(dialect=self._dialect)))
            self._compiled[id(statement)] = cached
        return cached[1]


class AsyncDatabase:
    def __init__(self, database: Database, size: int = DEFAULT_CONNECTIONS) -> None:
        url = make_url(database.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._statements = CompiledStatements(database.engine.dialect)
        self._size = size
        self._idle: list[tuple[Connection, float]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_database(cls, database: Database) -> "AsyncDatabase | None":
        if make_url(database.url).get_backend_name() != "postgresql":
            return None
        return cls(database, min(DEFAULT_CONNECTIONS, database.pool_size))

    @property
    def ready(self) -> bool:
        """Open, and on this event loop (the app's lifespan opened it)."""
        try:
            return self._loop is asyncio.get_running_loop()
        except RuntimeError:
            return False

    def open(self) -> None:
        """Bind the pool to the running event loop; connections come with the first use."""
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    async def close(self) -> None:
        self._loop, self._slots = None, None
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()

    async def first(self, statement: ClauseElement, parameters: Parameters) -> Any:
        """The statement's first row (attributes by column name), or None."""
        async with self.transaction(begin=False) as transaction:
            return await transaction.first(statement, parameters)

    @contextlib.asynccontextmanager
    async def transaction(self, *, begin: bool = True) -> AsyncIterator["AsyncTransaction"]:
        """A transaction on a pooled connection (`begin=False`: autocommit statements)."""
        if not self.ready or self._slots is None:
            raise AsyncDatabaseClosedError("the async database is not open on this event loop")
        async with self._slots:
            connection, recent = self._checkout()
            transaction = AsyncTransaction(self, connection, recent, begin)
            try:
                yield transaction
                await transaction.end()
            except BaseException:
                await _discard(transaction.connection)
                raise
            if transaction.connection is not None:
                self._idle.append((transaction.connection, time.monotonic()))

    def _checkout(self) -> tuple[Connection | None, bool]:
        """A pooled connection, and whether it was used within the ping interval (so that
        a failure on it is not the pool's staleness); None: connect on first use."""
        if self._idle:
            connection, checked_in_at = self._idle.pop()
            return connection, time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS
        return None, True

    async def connect(self) -> Connection:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            row_factory=namedtuple_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )

    def sql(self, statement: ClauseElement) -> str:
        return self._statements.sql(statement)


class AsyncTransaction:
    def __init__(
        self, database: AsyncDatabase, connection: Connection | None, recent: bool, begin: bool
    ) -> None:
        self._database = database
        self._connection = connection
        self._recent = recent
        self._begin = begin
        self._started = False
        self._open = False

    @property
    def connection(self) -> Connection | None:
        return self._connection

    async def first(self, statement: ClauseElement, parameters: Parameters) -> Any:
        """The statement's first row, or None; the first statement of a transaction is
        sent with its `BEGIN`, in one round trip."""
        sql = self._database.sql(statement)
        if self._started:
            return await self._fetch_first(self._live(), sql, parameters)
        self._started = True
        try:
            return await self._fetch_first(await self._connected(), sql, parameters)
        except psycopg.OperationalError:
            if self._recent:
                raise
            # An idle connection the server or a proxy ended meanwhile: nothing ran yet.
            await _discard(self._connection)
            self._connection = await self._database.connect()
            self._open = False
            return await self._fetch_first(self._connection, sql, parameters)

    async def commit(self, statements: Sequence[tuple[ClauseElement, Parameters]] = ()) -> None:
        """Run `statements`, then commit: one round trip."""
        connection = self._live()
        async with connection.pipeline():
            for statement, parameters in statements:
                await connection.execute(self._database.sql(statement), parameters)  # type: ignore[arg-type]
            if self._open:
                await connection.execute("COMMIT")
        self._open = False

    async def end(self) -> None:
        """Roll back what was not committed."""
        if self._open and self._connection is not None:
            self._open = False
            await self._connection.execute("ROLLBACK")

    async def _fetch_first(self, connection: Connection, sql: str, parameters: Parameters) -> Any:
        if not self._begin or self._open:
            cursor = await connection.execute(sql, parameters)  # type: ignore[arg-type]
            return await cursor.fetchone()
        async with connection.pipeline():
            await connection.execute("BEGIN")
            self._open = True
            cursor = await connection.execute(sql, parameters)  # type: ignore[arg-type]
            return await cursor.fetchone()

    async def _connected(self) -> Connection:
        if self._connection is None:
            self._connection = await self._database.connect()
        return self._connection

    def _live(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("no statement ran in this transaction yet")
        return self._connection


async def _discard(connection: Connection | None) -> None:
    if connection is None:
        return
    with contextlib.suppress(Exception):  # it is dropped either way
        await connection.close()
