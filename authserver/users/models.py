"""The user table: usernames are unique without regard to case."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.clock import utcnow
from authserver.db import moment_column


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=150)
    # The case-folded username carries the unique index (one query on every database).
    username_key: str = Field(max_length=150, unique=True, index=True)
    email: str | None = Field(default=None, max_length=320)
    password_hash: str = Field(max_length=200)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


def username_key(username: str) -> str:
    return username.casefold()
