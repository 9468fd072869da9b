"""One row per security event (`authserver audit list` reads them)."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class AuditEvent(SQLModel, table=True):
    """Who did what, when, from where. `details` is a JSON object of identifiers
    (`jti`, family id, `kid`, counts, a reason), never a token, code, secret or password."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(sa_column=moment_column(index=True))
    event: str = Field(max_length=64, index=True)
    actor: str | None = Field(default=None, max_length=200)
    user_id: int | None = Field(default=None, index=True)
    username: str | None = Field(default=None, max_length=150)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    client_address: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    details: str = Field(default="{}")
