"""Alembic migrations (`migrations/`): upgrade, and the check that `serve` runs first."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from authserver.db import Database
from authserver.errors import SchemaError

_PACKAGE = Path(__file__).resolve().parent


def migrations_dir() -> Path:
    """`migrations/` beside the package in a checkout, or inside an installed wheel."""
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError("the migrations directory is missing from this installation")


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = database.engine
    return config


def upgrade_database(database: Database) -> None:
    command.upgrade(alembic_config(database), "head")


def head_revision(database: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database)).get_current_head()


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema_is_current(database: Database) -> None:
    """Refuse to serve a database that is behind (or ahead of) this code's migrations."""
    try:
        current = current_revision(database)
    except Exception as error:  # noqa: BLE001 - the driver's message names the cause
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SchemaError(f"cannot reach the database: {reason}") from None
    head = head_revision(database)
    if current != head:
        raise SchemaError(
            f"the database is at migration {current or 'none'}, this code needs {head}: "
            "run 'authserver db upgrade'"
        )
