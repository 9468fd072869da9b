"""Passkeys (WebAuthn credentials) and the challenges of their ceremonies."""

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class Passkey(SQLModel, table=True):
    """A user's WebAuthn credential: its id and COSE public key (base64url), the
    authenticator's signature counter, and what the account page shows."""

    __tablename__ = "passkeys"

    credential_id: str = Field(primary_key=True, max_length=1400)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    public_key: str = Field(max_length=2000)
    sign_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    transports: str = Field(default="", max_length=200)
    # WebAuthn's backup state: a synced passkey (`swk` in amr) rather than one bound to
    # its device (`hwk`).
    backed_up: bool = False
    created_at: datetime = Field(sa_column=moment_column())
    last_used_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))


class WebAuthnChallenge(SQLModel, table=True):
    """A ceremony's challenge (its SHA-256): single-use, short-lived, bound to the
    browser (`binding`) and, for a registration or a second factor, to the user."""

    __tablename__ = "webauthn_challenges"

    challenge_hash: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=20)
    binding: str = Field(max_length=64)
    user_id: int | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", nullable=True
    )
    expires_at: datetime = Field(sa_column=moment_column(index=True))
