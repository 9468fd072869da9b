"""Alembic environment: the engine comes from authserver.schema or from the settings."""

from alembic import context
from sqlmodel import SQLModel

import authserver.models  # noqa: F401 - registers every table on SQLModel.metadata
from authserver.db import build_engine
from authserver.settings import load_settings

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
        context.run_migrations()
    connection.commit()
