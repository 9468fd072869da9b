"""A pushed authorization request, waiting for the browser to bring its `request_uri`."""

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from authserver.clock import utcnow
from authserver.db import moment_column


class PushedAuthorizationRequest(SQLModel, table=True):
    """RFC 9126 §2.2: the parameters a client pushed, found by the SHA-256 of the
    reference in its `request_uri`, used once, for at most AUTHSERVER_PAR_TTL."""

    __tablename__ = "pushed_authorization_requests"

    reference_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(foreign_key="clients.client_id", ondelete="CASCADE", max_length=64)
    # The authorization request's parameters, as [name, value] pairs.
    parameters: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
