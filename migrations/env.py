"""Alembic environment: the engine comes from authserver.schema or from the settings.

On PostgreSQL the migrations run under an advisory lock, taken inside their transaction
before the current revision is read: several hosts running `authserver db upgrade` at
once wait for each other, and the later ones find the schema already at head.
"""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import authserver.models  # noqa: F401 - registers every table on SQLModel.metadata
from authserver.db import build_engine
from authserver.settings import load_settings

# pg_advisory_xact_lock takes a bigint; this one is "authmigr" in ASCII.
MIGRATION_LOCK = 0x617574686D696772

engine = context.config.attributes.get("engine")
if engine is None:
    engine = build_engine(load_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        context.run_migrations()
    connection.commit()
