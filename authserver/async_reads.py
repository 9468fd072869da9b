"""One-statement reads on the event loop, for PostgreSQL: the hot paths' indexed lookup
(is this access token still good?) without a hop to a worker thread.

A read through `Database.reading()` costs a thread hop, the GIL handed back and forth
with the event loop, and SQLAlchemy's connection, session and result machinery around
the statement: together about three times the statement's own round trip. Here the
same prebuilt Core statement, compiled once for PostgreSQL, runs on a psycopg
`AsyncConnection` in autocommit, from a small pool this process's event loop owns.

The pool opens no connection before the first read, holds at most `size`, and never
waits for a connection to come up: an unreachable database fails the read at once
(`is_storage_outage`, 503), as the thread path does. A connection that breaks is
dropped, and a read on a connection idle for `PING_AFTER_IDLE_SECONDS` or more that
fails as broken is tried once more on a fresh one (a read is safe to repeat).

SQLite has no such pool (`for_database` returns None): its reads stay in threads.
"""

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement

from authserver.db import PING_AFTER_IDLE_SECONDS, Database

# Enough for thousands of reads a second per process: each holds a connection for one
# round trip, and only this process's event loop uses them.
DEFAULT_CONNECTIONS = 4
CONNECT_TIMEOUT_SECONDS = 5


class AsyncReadsClosedError(RuntimeError):
    """A read after `close()`, or from another event loop than the pool's."""


class AsyncReads:
    def __init__(self, database: Database, size: int = DEFAULT_CONNECTIONS) -> None:
        url = make_url(database.url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._dialect = database.engine.dialect
        self._size = size
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._compiled: dict[int, tuple[ClauseElement, str]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_database(cls, database: Database) -> "AsyncReads | None":
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
        """Bind the pool to the running event loop; connections come with the first reads."""
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    async def close(self) -> None:
        self._loop, self._slots = None, None
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()

    async def first(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any:
        """The statement's first row (attributes by column name), or None."""
        if not self.ready or self._slots is None:
            raise AsyncReadsClosedError("the async read pool is not open on this event loop")
        sql = self._sql(statement)
        async with self._slots:
            connection, recent = await self._checkout()
            try:
                row = await _fetch_first(connection, sql, parameters)
            except psycopg.OperationalError:
                await _discard(connection)
                if recent:
                    raise
                connection = await self._connect()
                try:
                    row = await _fetch_first(connection, sql, parameters)
                except BaseException:
                    await _discard(connection)
                    raise
            except BaseException:
                await _discard(connection)
                raise
            self._idle.append((connection, time.monotonic()))
            return row

    async def _checkout(self) -> tuple[psycopg.AsyncConnection[Any], bool]:
        """A pooled connection (and whether it was used within the ping interval, so that
        a failure on it is not the pool's staleness), else a new one."""
        if self._idle:
            connection, checked_in_at = self._idle.pop()
            return connection, time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS
        return await self._connect(), True

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            row_factory=namedtuple_row,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )

    def _sql(self, statement: ClauseElement) -> str:
        cached = self._compiled.get(id(statement))
        if cached is None or cached[0] is not statement:
            cached = (statement, str(statement.compile(dialect=self._dialect)))
            self._compiled[id(statement)] = cached
        return cached[1]


async def _fetch_first(
    connection: psycopg.AsyncConnection[Any], sql: str, parameters: Mapping[str, Any]
) -> Any:
    cursor = await connection.execute(sql, parameters)  # type: ignore[arg-type]
    return await cursor.fetchone()


async def _discard(connection: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):  # it is dropped either way
        await connection.close()
