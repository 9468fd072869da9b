"""Migrations run on both databases, and `serve` refuses a database behind them."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from authserver.db import Database
from authserver.errors import SchemaError
from authserver.schema import current_revision, ensure_schema_is_current, head_revision


def test_the_migrated_schema_is_at_head_with_every_table(database: Database) -> None:
    assert current_revision(database) == head_revision(database)
    ensure_schema_is_current(database)
    tables = set(inspect(database.engine).get_table_names())
    assert {"clients", "users", "alembic_version"} <= tables


def test_a_database_behind_its_migrations_is_refused(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(SchemaError, match="authserver db upgrade"):
            ensure_schema_is_current(database)
    finally:
        database.dispose()


def test_an_unreachable_database_is_one_clear_line() -> None:
    database = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens")
    try:
        with pytest.raises(SchemaError, match="cannot reach the database") as raised:
            ensure_schema_is_current(database)
        assert "\n" not in str(raised.value)
    finally:
        database.dispose()


def test_the_migrations_create_exactly_the_schema_the_models_describe(database: Database) -> None:
    """A model changed without a migration (or the reverse) shows up here."""
    import authserver.models  # noqa: F401 - every table on the metadata

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []
