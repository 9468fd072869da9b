"""A user's second factors, and sign-ins waiting for one."""

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class TotpFactor(SQLModel, table=True):
    """A user's TOTP secret (RFC 6238), sealed at rest (`authserver.sealing`).

    Unconfirmed (`confirmed_at` None) until the user types a first code; only a confirmed
    factor is asked for at sign-in. `last_step` is the last time step a code was accepted
    for: a code of that step or an earlier one is refused (no replay within its window).
    """

    __tablename__ = "totp_factors"

    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    sealed_secret: str = Field(max_length=400)
    last_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=moment_column())
    confirmed_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class RecoveryCode(SQLModel, table=True):
    """One single-use recovery code of a user, stored as its SHA-256 only."""

    __tablename__ = "recovery_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(sa_column=moment_column())
    used_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class PendingSignIn(SQLModel, table=True):
    """A first factor proved (a password, an upstream provider), the second not yet.

    The browser holds a cookie with a secret; only its SHA-256 is here. It lives a few
    minutes and becomes a session (login/sessions.py) once the second factor is proved.
    """

    __tablename__ = "pending_sign_ins"

    secret_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    amr: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
