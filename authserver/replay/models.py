"""Values seen once: a client assertion's or a DPoP proof's `jti`, until it expires."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class UsedJti(SQLModel, table=True):
    """The SHA-256 of (purpose, issuer, jti): a second insert of the same is a replay."""

    __tablename__ = "used_jtis"

    key_hash: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=moment_column(index=True))
