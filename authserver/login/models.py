"""Sign-in sessions, remembered consents and the login throttle."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.clock import utcnow
from authserver.db import moment_column


class LoginSession(SQLModel, table=True):
    """A browser's SSO session. The cookie holds a secret; only its SHA-256 is stored here.

    `sid` is the public name of the session (the id_token's `sid`, OIDC Front-Channel
    Logout §2), distinct from the cookie secret.
    """

    __tablename__ = "login_sessions"

    secret_hash: str = Field(primary_key=True, max_length=64)
    sid: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    auth_time: datetime = Field(sa_column=moment_column())
    # RFC 8176 methods the user proved in this session, space-separated in the order
    # proved (`pwd`, `pwd otp mfa`, `hwk mfa`, `fed`): the id_token's `amr` (factors/).
    amr: str = Field(default="pwd", max_length=100)
    # What the account page shows of the session: the browser and the address it signed
    # in from.
    user_agent: str | None = Field(default=None, max_length=300)
    address: str | None = Field(default=None, max_length=64)
    last_seen_at: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
    ended_at: datetime | None = Field(
        default=None, sa_column=moment_column(nullable=True, index=True)
    )


class Consent(SQLModel, table=True):
    """The scopes a user has approved for a client; asked again only for more."""

    __tablename__ = "consents"

    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    client_id: str = Field(
        foreign_key="clients.client_id", ondelete="CASCADE", primary_key=True, max_length=64
    )
    scope: str = Field(default="", max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=moment_column())


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins of one account or one IP address, and when the next try may come."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    not_before: datetime = Field(sa_column=moment_column())
    updated_at: datetime = Field(sa_column=moment_column(index=True))


class KnownDevice(SQLModel, table=True):
    """A browser that signed in to an account before (OWASP's "device cookie"): its
    wrong guesses are throttled on their own, not with the account's, so strangers'
    guesses cannot lock the owner out. The cookie holds a secret; only its SHA-256 is here.
    """

    __tablename__ = "known_devices"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
