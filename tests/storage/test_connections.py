"""Pooled connections: a connection the server dropped while it idled is replaced before
use (an idle ping instead of a ping per checkout), and reads run outside transactions."""

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


def test_reading_runs_outside_a_transaction(database: Database) -> None:
    with database.reading() as db:
        assert (
            not db.connection().in_transaction()
            or db.connection().get_execution_options()["isolation_level"] == "AUTOCOMMIT"
        )
        assert db.execute(text("SELECT 1")).scalar_one() == 1
    with database.transaction() as outer, database.reading() as inner:
        assert inner is outer  # inside a transaction, its reads join it
