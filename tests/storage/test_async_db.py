"""authserver.async_db: PostgreSQL on the event loop (one statement at a time), against the
real server: rows by column name, connections reused, a connection PostgreSQL ended
replaced, an unreachable server a storage outage at once (503), never a wait."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import psycopg
import pytest
from sqlalchemy import bindparam, text

from authserver import async_db
from authserver.async_db import AsyncDatabase, AsyncDatabaseClosedError
from authserver.clock import utcnow
from authserver.db import Database, is_storage_outage
from authserver.tokens.models import RevokedAccessToken
from authserver.tokens.validity import _SERVICE_TOKEN_STATE
from tests.conftest import end_other_backends
from tests.factories import make_client

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens-here"


class LoopBound(Protocol):
    def open(self) -> None: ...

    async def close(self) -> None: ...


def run_with(reads: LoopBound, work: Callable[[], Awaitable[Any]]) -> Any:
    """`work` on a fresh event loop that `reads` is opened on and closed after."""

    async def main() -> Any:
        reads.open()
        try:
            return await work()
        finally:
            await reads.close()

    return asyncio.run(main())


def backends_of_this_database(database: Database) -> int:
    with database.reading() as session:
        return session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()


def backends_settle_at_most(database: Database, count: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while backends_of_this_database(database) > count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sqlite_has_no_async_db(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        assert AsyncDatabase.for_database(database) is None
    finally:
        database.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_a_read_answers_the_prebuilt_statement_with_columns_by_name(database: Database) -> None:
    client, _ = make_client(database)
    reads = AsyncDatabase.for_database(database)
    assert reads is not None

    async def work() -> tuple[Any, Any]:
        known = {"jti": "never-revoked", "client_id": client.client_id}
        unknown = {"jti": "never-revoked", "client_id": "no-such-client"}
        return await reads.first(_SERVICE_TOKEN_STATE, known), await reads.first(
            _SERVICE_TOKEN_STATE, unknown
        )

    known, unknown = run_with(reads, work)
    assert (known.denied, known.client_exists) == (False, True)
    assert (unknown.denied, unknown.client_exists) == (False, False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_concurrent_reads_hold_at_most_the_pools_connections(database: Database) -> None:
    reads = AsyncDatabase(database, size=2)
    before = backends_of_this_database(database)
    seen: list[int] = []

    async def work() -> None:
        parameters = {"jti": "x", "client_id": "y"}
        await asyncio.gather(*(reads.first(_SERVICE_TOKEN_STATE, parameters) for _ in range(50)))
        seen.append(backends_of_this_database(database))

    run_with(reads, work)
    assert seen[0] - before <= 2
    # close() ended them (a backend leaves pg_stat_activity a moment after its client).
    assert backends_settle_at_most(database, before)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_reads_need_the_pool_opened_on_the_running_loop(database: Database) -> None:
    reads = AsyncDatabase.for_database(database)
    assert reads is not None
    assert not reads.ready
    parameters = {"jti": "x", "client_id": "y"}
    with pytest.raises(AsyncDatabaseClosedError):
        asyncio.run(reads.first(_SERVICE_TOKEN_STATE, parameters))  # never opened
    run_with(reads, lambda: reads.first(_SERVICE_TOKEN_STATE, parameters))
    with pytest.raises(AsyncDatabaseClosedError):
        asyncio.run(reads.first(_SERVICE_TOKEN_STATE, parameters))  # closed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_a_connection_ended_while_idle_is_replaced_without_failing_the_read(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the thread path pings a connection idle for 5 s: here every pooled connection
    counts as idle, so the read that finds it ended is tried once on a new one."""
    monkeypatch.setattr(async_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    reads = AsyncDatabase(database, size=1)
    parameters = {"jti": "x", "client_id": "y"}

    async def work() -> Any:
        await reads.first(_SERVICE_TOKEN_STATE, parameters)
        await asyncio.to_thread(end_other_backends, database)
        return await reads.first(_SERVICE_TOKEN_STATE, parameters)

    assert run_with(reads, work).denied is False


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_a_connection_ended_while_busy_fails_one_read_as_an_outage_then_recovers(
    database: Database,
) -> None:
    reads = AsyncDatabase(database, size=1)
    parameters = {"jti": "x", "client_id": "y"}

    async def work() -> tuple[BaseException | None, Any]:
        await reads.first(_SERVICE_TOKEN_STATE, parameters)
        await asyncio.to_thread(end_other_backends, database)
        failure = None
        try:
            await reads.first(_SERVICE_TOKEN_STATE, parameters)
        except psycopg.Error as error:
            failure = error
        return failure, await reads.first(_SERVICE_TOKEN_STATE, parameters)

    failure, row = run_with(reads, work)
    assert failure is not None and is_storage_outage(failure)
    assert row.denied is False


def test_an_unreachable_server_is_an_outage_at_once_not_a_wait() -> None:
    database = Database(UNREACHABLE)
    try:
        reads = AsyncDatabase(database)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as raised:
            run_with(
                reads, lambda: reads.first(_SERVICE_TOKEN_STATE, {"jti": "x", "client_id": "y"})
            )
        assert is_storage_outage(raised.value)
        assert time.monotonic() - started < 2
    finally:
        database.dispose()


# --- a statement that writes ----------------------------------------------------------

_REVOKED = RevokedAccessToken.__table__  # type: ignore[attr-defined]
_DENY = _REVOKED.insert().values(jti=bindparam("jti"), expires_at=bindparam("expires_at"))
_DENIED_RETURNING = _DENY.returning(_REVOKED.c.jti)


def denied(database: Database, jti: str) -> bool:
    with database.reading() as session:
        return session.get(RevokedAccessToken, jti) is not None


def deny_row(jti: str) -> dict[str, Any]:
    return {"jti": jti, "expires_at": utcnow() + timedelta(minutes=5)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_a_writing_statement_is_its_own_committed_transaction(database: Database) -> None:
    """What the refresh rotation relies on: the statement's change is committed when its
    row comes back, seen at once by another connection."""
    db = AsyncDatabase(database, size=1)

    async def work() -> tuple[Any, bool]:
        row = await db.first(_DENIED_RETURNING, deny_row("written"))
        return row, denied(database, "written")

    row, seen_meanwhile = run_with(db, work)
    assert row.jti == "written" and seen_meanwhile


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_a_failing_statement_stores_nothing_and_the_next_one_runs(database: Database) -> None:
    """A statement that fails (a duplicate key) raises and leaves nothing behind; the pool
    goes on with a fresh connection."""
    db = AsyncDatabase(database, size=1)

    async def work() -> Any:
        await db.first(_DENIED_RETURNING, deny_row("once"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            await db.first(_DENIED_RETURNING, deny_row("once"))
        return await db.first(_SERVICE_TOKEN_STATE, {"jti": "once", "client_id": "y"})

    assert run_with(db, work).denied is True
