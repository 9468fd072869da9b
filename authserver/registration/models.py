"""Initial access tokens (RFC 7591 §3): stored only as a SHA-256 hash, with a lifetime and
a number of registrations they may authorize."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class InitialAccessToken(SQLModel, table=True):
    __tablename__ = "initial_access_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
    max_uses: int
    uses: int = 0
