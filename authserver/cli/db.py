"""`authserver db ...`: migrations."""

import typer

from authserver.db import Database
from authserver.schema import current_revision, upgrade_database
from authserver.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Database migrations.")


@app.command("upgrade")
def upgrade() -> None:
    """Apply every migration in migrations/ (Alembic)."""
    database = Database(load_settings().database_url)
    try:
        upgrade_database(database)
        typer.echo(f"database at migration {current_revision(database)}")
    finally:
        database.dispose()
