"""Pooled connections: a connection the server dropped while it idled is replaced before
use (an idle ping instead of a ping per checkout), and reads run outside transactions."""

import psycopg
import pytest
from sqlalchemy import text

import authserver.db
from authserver.db import Database


@pytest.mark.postgresql
def test_an_idle_connection_the_server_dropped_is_replaced(
    postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(postgresql_url)
    try:
        with database.engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = Database(postgresql_url)
        try:
            with admin.engine.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                connection.commit()
        finally:
            admin.dispose()
        monkeypatch.setattr(authserver.db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with database.engine.connect() as connection:
            fresh = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert fresh != pid
    finally:
        database.dispose()


def in_transaction(dbapi_connection: object) -> bool:
    if hasattr(dbapi_connection, "in_transaction"):  # sqlite3
        return bool(dbapi_connection.in_transaction)
    status = dbapi_connection.info.transaction_status  # type: ignore[attr-defined]
    return status != psycopg.pq.TransactionStatus.IDLE


def test_reading_runs_outside_a_transaction(database: Database) -> None:
    """No BEGIN/COMMIT round trips, and on SQLite no BEGIN IMMEDIATE (the write lock)."""
    with database.reading() as db:
        assert db.execute(text("SELECT 1")).scalar_one() == 1
        assert not in_transaction(db.connection().connection.dbapi_connection)
    with database.transaction() as db:
        db.execute(text("SELECT 1"))
        assert in_transaction(db.connection().connection.dbapi_connection)
    with database.transaction() as outer, database.reading() as inner:
        assert inner is outer  # inside a transaction, its reads join it
