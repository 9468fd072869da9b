"""The database key store's table: one row per signing key, its state and its sealed key."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class SigningKey(SQLModel, table=True):
    """`private_key` is sealed with AUTHSERVER_KEYS_PASSPHRASE (`keys.sealing`), or a plain
    PEM in development mode; `public_jwk` holds the members RFC 7638 requires of its key
    type (`kty`, `n`, `e` for RSA), and `alg` for a key that does not sign RS256."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=128)
    state: str = Field(max_length=16)
    public_jwk: str
    private_key: str
    created_at: datetime = Field(sa_column=moment_column())
    activated_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    retired_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    remove_after: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
