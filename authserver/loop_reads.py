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
- the statement is the same prebuilt Core statement, compiled once for SQLite and run on
  the driver's connection (`_SqliteStatement`): each parameter bound and each column read
  through its SQLAlchemy type, as in a session, without SQLAlchemy's execution and
  result machinery around a one-row read, which cost more than the read;
- any other error drops the connection (the next read opens one) and goes to the
  caller: a database that is gone is a storage outage (503), as on the thread path.
"""

import asyncio
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement
from starlette.concurrency import run_in_threadpool

from authserver.async_db import (
    AsyncDatabase,
    AsyncDatabaseClosedError,
    CompiledStatements,
    is_running_loop,
)
from authserver.db import Database


class LoopReads(Protocol):
    @property
    def ready(self) -> bool: ...

    async def first(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any: ...


class SqliteLoopReads:
    def __init__(self, database: Database) -> None:
        self._database = database
        url = make_url(database.url)
        dialect: Dialect = url.get_dialect()()
        arguments, options = dialect.create_connect_args(url)
        self._connect_arguments = (tuple(arguments), {**options, "timeout": 0})
        self._statements = CompiledStatements(
            lambda statement: _SqliteStatement(statement, dialect)
        )
        self._connection: sqlite3.Connection | None = None
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

    async def first(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any:
        if not self.ready:
            raise AsyncDatabaseClosedError("the loop reads are not open on this event loop")
        compiled = self._statements.get(statement)
        try:
            return compiled.first(self._connected(), parameters)
        except Exception as error:
            self._drop()
            if not _is_busy(error):
                raise
        return await run_in_threadpool(self._read_in_thread, statement, parameters)

    def _read_in_thread(self, statement: ClauseElement, parameters: Mapping[str, Any]) -> Any:
        with self._database.reading() as session:
            return session.connection().execute(statement, parameters).first()

    def _connected(self) -> sqlite3.Connection:
        if self._connection is None:
            arguments, options = self._connect_arguments
            # isolation_level None: autocommit, each read its own snapshot.
            connection = sqlite3.connect(
                *arguments, **{**options, "check_same_thread": False, "isolation_level": None}
            )
            try:
                connection.execute("PRAGMA query_only = ON")
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


Processor = Callable[[Any], Any] | None


class _SqliteStatement:
    """A Core statement compiled for SQLite once: its SQL, each positional parameter's name,
    default and bind processor, and a row type whose fields are the selected columns
    (what a SQLAlchemy row offers by attribute), each read through its result processor.
    A textual statement's columns are known once it ran, and read as the driver gives them."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:  # an IN list: expanded per execution
            raise ValueError("loop reads do not run statements with expanding parameters")
        self.sql = compiled.string
        self.parameters: list[tuple[str, bool, Any, Processor]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self.parameters.append((name, bind.required, bind.value, processor))
        self.row_type: Any = None
        self.readers: list[Processor] = []
        selected = getattr(statement, "selected_columns", None)
        if selected is not None:
            columns = list(selected.items())
            self.row_type = namedtuple("Row", [key for key, _ in columns])  # type: ignore[misc]
            self.readers = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for _, column in columns
            ]

    def first(self, connection: sqlite3.Connection, given: Mapping[str, Any]) -> Any:
        values = []
        for name, required, default, processor in self.parameters:
            if name in given:
                value = given[name]
            elif required:
                raise KeyError(f"no value for the parameter {name!r}")
            else:
                value = default
            values.append(value if processor is None else processor(value))
        cursor = connection.execute(self.sql, values)
        try:
            found = cursor.fetchone()
            if found is not None and self.row_type is None:  # text: the driver's columns
                names = [column[0] for column in cursor.description]
                self.row_type = namedtuple("Row", names, rename=True)  # type: ignore[misc]
                self.readers = [None] * len(names)
        finally:
            # Resets the statement: its read snapshot ends now, not when the cursor is freed.
            cursor.close()
        if found is None:
            return None
        return self.row_type._make(
            value if reader is None else reader(value)
            for reader, value in zip(self.readers, found, strict=True)
        )


def _is_busy(error: Exception) -> bool:
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def loop_reads_for(database: Database, async_db: AsyncDatabase | None) -> LoopReads | None:
    """PostgreSQL's event-loop pool, or SQLite's loop reads."""
    return async_db if async_db is not None else SqliteLoopReads.for_database(database)
