"""What every command needs: the settings, the database, output in text or JSON."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from sqlmodel import Session

from authserver.db import Database
from authserver.schema import ensure_schema_is_current
from authserver.settings import Settings, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def transaction(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction for the command, on a database at the current migration."""
    database = Database((settings or load_settings()).database_url)
    try:
        ensure_schema_is_current(database)
        with database.transaction() as session:
            yield session
    finally:
        database.dispose()


def emit(as_json: bool, data: Any, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)
