"""authserver.loop_reads.SqliteLoopReads: introspection's and /userinfo's one-row reads on
the event loop with SQLite, against a real database file. The loop never waits on a lock
(a read SQLite answers SQLITE_BUSY is done again in a worker thread), a read sees what is
committed, the connection writes nothing, and a database that is gone is a storage outage
(503), as on the thread path."""

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    text,
)

from authserver.db import Database, UtcDateTime, is_storage_outage
from authserver.loop_reads import SqliteLoopReads
from tests.storage.test_async_db import run_with

VALUE = text("SELECT value FROM entries WHERE id = :id")


@pytest.fixture
def database(tmp_path: Path) -> Database:
    path = tmp_path / "reads.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, value TEXT)")
        connection.execute("INSERT INTO entries VALUES (1, 'first')")
    connection.close()
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def test_a_read_sees_what_is_committed_meanwhile(database: Database) -> None:
    reads = SqliteLoopReads(database)
    path = database.engine.url.database
    assert path is not None

    async def work() -> tuple[Any, Any]:
        before = await reads.first(VALUE, {"id": 1})
        with sqlite3.connect(path) as writer:
            writer.execute("UPDATE entries SET value = 'second' WHERE id = 1")
        writer.close()
        return before, await reads.first(VALUE, {"id": 1})

    before, after = run_with(reads, work)
    assert (before.value, after.value) == ("first", "second")


def test_a_locked_database_is_read_in_a_thread_while_the_loop_goes_on(
    database: Database,
) -> None:
    """A writer holding SQLite's exclusive lock makes the loop's read answer SQLITE_BUSY
    at once (busy timeout 0): the read waits for the lock in a worker thread, and the
    event loop serves other work meanwhile."""
    path = database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE entries SET value = 'locked' WHERE id = 1")
    holder.commit()  # in exclusive locking mode the lock outlives the transaction
    released = threading.Event()

    def release() -> None:
        holder.close()
        released.set()

    threading.Timer(0.5, release).start()
    reads = SqliteLoopReads(database)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while not released.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def work() -> Any:
        ticker = asyncio.create_task(tick())
        row = await reads.first(VALUE, {"id": 1})
        await ticker
        return row

    row = run_with(reads, work)
    assert row.value == "locked"
    assert ticks >= 10, "the event loop stood still while the database was locked"


def test_the_loop_connection_writes_nothing(database: Database) -> None:
    reads = SqliteLoopReads(database)
    write = text("UPDATE entries SET value = 'written' RETURNING value")
    with pytest.raises(Exception, match=r"readonly|read-only|query_only"):
        run_with(reads, lambda: reads.first(write, {}))
    with database.reading() as session:
        assert session.execute(VALUE, {"id": 1}).scalar_one() == "first"


def test_a_database_that_is_gone_is_a_storage_outage(tmp_path: Path) -> None:
    """The thread path answers 503 for it (`is_storage_outage`); so does the loop's read."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    database = Database.__new__(Database)
    database.url = f"sqlite:///{blocker / 'reads.db'}"
    reads = SqliteLoopReads(database)
    with pytest.raises(Exception) as raised:
        run_with(reads, lambda: reads.first(VALUE, {"id": 1}))
    assert is_storage_outage(raised.value), repr(raised.value)


def test_only_a_sqlite_file_gets_loop_reads(tmp_path: Path) -> None:
    """PostgreSQL has its own (`authserver.async_db`); an in-memory SQLite database is
    private to its connection, so another connection would read another database."""
    assert SqliteLoopReads.for_database(Database(f"sqlite:///{tmp_path / 'a.db'}")) is not None
    assert SqliteLoopReads.for_database(Database("sqlite://")) is None


_metadata = MetaData()
_typed = Table(
    "typed",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime(), nullable=True),
    Column("flag", Boolean, nullable=False),
    Column("claims", JSON, nullable=True),
    Column("name", String(50)),
)
# Every kind of parameter: given, a datetime through its bind processor, a default value.
TYPED = select(
    _typed.c.at,
    _typed.c.flag,
    _typed.c.claims,
    (_typed.c.at < bindparam("now", type_=UtcDateTime())).label("past"),
    _typed.c.name.label("who"),
).where(_typed.c.id == bindparam("id"), _typed.c.name != bindparam("not_named", "nobody"))


@pytest.mark.parametrize("row_id", [1, 2, 3])
def test_a_typed_read_gives_what_a_session_gives(database: Database, row_id: int) -> None:
    """Each parameter bound and each column read through its SQLAlchemy type: aware UTC
    datetimes, booleans, JSON, labels as attribute names; None for no row."""
    moment = datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC)
    _metadata.create_all(database.engine)
    with database.transaction() as db:
        db.connection().execute(
            _typed.insert(),
            [
                {"id": 1, "at": moment, "flag": True, "claims": {"a": [1]}, "name": "x"},
                {"id": 2, "at": None, "flag": False, "claims": None, "name": "y"},
            ],
        )
    reads = SqliteLoopReads(database)
    # `now` equal to the stored moment: bound as SQLAlchemy binds it, the stored text
    # equals it (not `past`); bound as the driver would adapt it, it would not.
    parameters = {"id": row_id, "now": moment}

    async def work() -> Any:
        return await reads.first(TYPED, parameters)

    on_the_loop = run_with(reads, work)
    with database.reading() as db:
        in_a_session = db.connection().execute(TYPED, parameters).first()

    if row_id == 3:
        assert on_the_loop is None and in_a_session is None
        return
    assert tuple(on_the_loop) == tuple(in_a_session)
    assert on_the_loop._fields == ("at", "flag", "claims", "past", "who")
    if row_id == 1:
        assert on_the_loop.at == moment and on_the_loop.at.tzinfo is not None
        assert (on_the_loop.flag, on_the_loop.claims, on_the_loop.past) == (True, {"a": [1]}, False)
    else:
        assert (on_the_loop.at, on_the_loop.flag, on_the_loop.past) == (None, False, None)


def test_a_missing_parameter_is_an_error_not_a_null(database: Database) -> None:
    reads = SqliteLoopReads(database)

    async def work() -> Any:
        return await reads.first(VALUE, {})

    with pytest.raises(KeyError, match="'id'"):
        run_with(reads, work)
