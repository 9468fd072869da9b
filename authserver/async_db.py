"""PostgreSQL on the event loop, for the hottest paths: introspecting a JWT and /userinfo
(one read each) and rotating a refresh token (one statement), without a hop to a worker
thread.

A statement through `Database` costs a thread hop, the GIL handed back and forth with
the event loop, and SQLAlchemy's session and result machinery around it: together more
than the statement's own round trip. Here the same prebuilt Core statements, compiled
once for PostgreSQL, run on psycopg `AsyncConnection`s from a small pool this process's
event loop owns (autocommit: a read is its own snapshot, as in `Database.reading`).

- `first(statement, parameters)`: one statement, one round trip, its own transaction
  (autocommit); its first row. An exception, a cancelled request included, drops the
  connection.

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
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement

from authserver.db import PING_AFTER_IDLE_SECONDS, Database

# Enough for thousands of requests a second per process: each holds a connection for
# one round trip, and only this process's event loop uses them.
DEFAULT_CONNECTIONS = 4
CONNECT_TIMEOUT_SECONDS = 5

Connection = psycopg.AsyncConnection[Any]
Parameters = Mapping[str, Any]


class AsyncDatabaseClosedError(RuntimeError):
    """A statement after `close()`, or from another event loop than the pool's."""


def is_running_loop(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether `loop` is the event loop running this code (False outside of one)."""
    try:
        return loop is asyncio.get_running_loop()
    except RuntimeError:
        return False


Compiled = TypeVar("Compiled")


def psycopg_sql(dialect: Dialect) -> Callable[[ClauseElement], str]:
    """How a Core statement becomes the SQL `AsyncDatabase` hands psycopg."""
    return lambda statement: str(statement.compile(dialect=dialect))


class CompiledStatements(Generic[Compiled]):
    """Core statements compiled once each (by `make`), by identity: the prebuilt
    statements of the hot paths, for psycopg here and for SQLite's loop reads."""

    def __init__(self, make: Callable[[ClauseElement], Compiled]) -> None:
        self._make = make
        self._compiled: dict[int, tuple[ClauseElement, Compiled]] = {}

    def get(self, statement: ClauseElement) -> Compiled:
        cached = self._compiled.get(id(statement))
        if cached is None or cached[0] is not statement:
            cached = (statement, self._make(statement))
            self._compiled[id(statement)] = cached
        return cached[1]


class AsyncDatabase:
    def __init__(self, database: Database, size: int = DEFAULT_CONNECTIONS) -> None:
        url = make_url(database.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._statements = CompiledStatements(psycopg_sql(database.engine.dialect))
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
        return is_running_loop(self._loop)

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
        """The statement's first row (attributes by column name), or None: one round trip,
        in autocommit (a statement is its own transaction)."""
        if not self.ready or self._slots is None:
            raise AsyncDatabaseClosedError("the async database is not open on this event loop")
        sql = self._statements.get(statement)
        async with self._slots:
            connection, recent = self._checkout()
            try:
                try:
                    if connection is None:
                        connection = await self.connect()
                    row = await _fetch_first(connection, sql, parameters)
                except psycopg.OperationalError:
                    if recent:
                        raise
                    # An idle connection the server or a proxy ended meanwhile: nothing ran.
                    await _discard(connection)
                    connection = await self.connect()
                    row = await _fetch_first(connection, sql, parameters)
            except BaseException:
                await _discard(connection)
                raise
            self._idle.append((connection, time.monotonic()))
            return row

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


async def _fetch_first(connection: Connection, sql: str, parameters: Parameters) -> Any:
    cursor = await connection.execute(sql, parameters)  # type: ignore[arg-type]
    return await cursor.fetchone()


async def _discard(connection: Connection | None) -> None:
    if connection is None:
        return
    with contextlib.suppress(Exception):  # it is dropped either way
        await connection.close()
