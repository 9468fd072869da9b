"""`authserver db upgrade` run by several hosts at once leaves one correct schema (a
PostgreSQL advisory lock), and `serve` refuses a schema older than the code (issue 10,
item 6)."""

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import authserver.models  # noqa: F401 - every table on the metadata
from authserver.db import Database
from authserver.schema import current_revision, head_revision
from tests.conftest import POSTGRES_URL
from tests.e2e.processes import AUTHSERVER, cli_environment, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]


@pytest.fixture
def empty_database(postgresql_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (postgresql_url makes sure one answers)."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"authserver_upgrade_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_four_hosts_upgrading_at_once_leave_one_schema_at_head(
    empty_database: str, tmp_path: Path
) -> None:
    environment = cli_environment(empty_database, tmp_path / "keys")
    processes = [
        subprocess.Popen(
            [AUTHSERVER, "db", "upgrade"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0] * 4, results
    database = Database(empty_database)
    try:
        assert current_revision(database) == head_revision(database)
        tables = set(inspect(database.engine).get_table_names())
        assert {table.name for table in SQLModel.metadata.sorted_tables} <= tables
        with database.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        database.dispose()


def test_serve_refuses_a_schema_older_than_the_code(empty_database: str, tmp_path: Path) -> None:
    environment = cli_environment(empty_database, tmp_path / "keys")
    database = Database(empty_database)
    try:
        from alembic import command

        from authserver.schema import alembic_config

        command.upgrade(alembic_config(database), "0004")
    finally:
        database.dispose()
    result = run_cli(environment, "serve", "--port", "1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "migration 0004" in result.stderr and "authserver db upgrade" in result.stderr
