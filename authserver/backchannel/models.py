"""The outbox: messages to deliver to other servers, stored in the transaction that
decided them, delivered after it commits, retried until delivered or given up."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)  # "backchannel_logout"
    client_id: str = Field(max_length=64, index=True)
    target_uri: str = Field(max_length=2000)
    # What the message says: for a logout, the session's `sid` and the user's `sub`.
    sid: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=moment_column())
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=moment_column(index=True))
    # A delivery in progress: no other process takes the message before this passes.
    claimed_until: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    given_up_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
