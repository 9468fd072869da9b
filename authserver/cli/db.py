"""`authserver db ...`: migrations and housekeeping."""

import typer

from authserver.audit import record_event
from authserver.cli.context import JsonOption, emit, transaction
from authserver.clock import utcnow
from authserver.db import Database
from authserver.schema import current_revision, upgrade_database
from authserver.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Database migrations and housekeeping.")


@app.command("upgrade")
def upgrade() -> None:
    """Apply every migration in migrations/ (Alembic)."""
    database = Database(load_settings().database_url)
    try:
        upgrade_database(database)
        typer.echo(f"database at migration {current_revision(database)}")
    finally:
        database.dispose()


@app.command("purge")
def purge(as_json: JsonOption = False) -> None:
    """Delete expired codes, sessions, token families and deny-list entries (safe while serving)."""
    from authserver.housekeeping import purge_expired  # the server's packages: only here

    settings = load_settings()
    with transaction() as session:
        purged = purge_expired(
            session, utcnow(), settings.access_token_ttl, settings.audit_retention
        )
        counts = purged.as_dict()
        record_event(session, "db.purged", **counts)
    emit(as_json, counts, "purged " + ", ".join(f"{n} {name}" for name, n in counts.items()))
