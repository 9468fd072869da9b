"""Status lists, the blocks of sequence numbers handed to server processes, which index
each user-grant access token got, and which indexes are revoked.

A list's bits are not stored as such: the published array is built from
`status_revocations` (one row per INVALID index), so revoking is one idempotent INSERT
that never contends with another revocation for a shared row.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from authserver.db import moment_column


class StatusList(SQLModel, table=True):
    __tablename__ = "status_lists"

    id: str = Field(primary_key=True, max_length=32)
    size: int
    # The key of the list's index permutation (`permutation.py`), 16 random bytes, hex.
    permutation_key: str = Field(max_length=64)
    # Sequence numbers handed out so far (in blocks); the list is full at `size`.
    next_sequence: int = Field(default=0)
    created_at: datetime = Field(sa_column=moment_column())
    # No block is taken from the list after this (AUTHSERVER_STATUS_LIST_ROLLOVER) ...
    open_until: datetime = Field(sa_column=moment_column())
    # ... and once every token that may name it has expired, it is deleted (`db purge`).
    expires_at: datetime = Field(sa_column=moment_column(index=True))


class StatusBlock(SQLModel, table=True):
    """Sequence numbers [first, first + count) of a list, reserved by one server process.

    `client_id` is set for the blocks of one client's client_credentials tokens, which
    are stored nowhere else: removing the client revokes every index of its blocks.
    """

    __tablename__ = "status_blocks"

    id: int | None = Field(default=None, primary_key=True)
    list_id: str = Field(foreign_key="status_lists.id", ondelete="CASCADE", max_length=32)
    first: int
    count: int
    client_id: str | None = Field(default=None, max_length=64, index=True)
    reserved_at: datetime = Field(sa_column=moment_column())


class StatusAssignment(SQLModel, table=True):
    """The index an access token of a user's grant got, so that revoking its family,
    session or user reaches it. Written in the grant's own transaction."""

    __tablename__ = "status_assignments"

    list_id: str = Field(
        foreign_key="status_lists.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    idx: int = Field(primary_key=True)
    family_id: str = Field(
        foreign_key="token_families.id", ondelete="CASCADE", index=True, max_length=64
    )


class StatusRevocation(SQLModel, table=True):
    """An INVALID index (draft-ietf-oauth-status-list-18 §7.1)."""

    __tablename__ = "status_revocations"

    list_id: str = Field(
        foreign_key="status_lists.id", ondelete="CASCADE", primary_key=True, max_length=32
    )
    idx: int = Field(primary_key=True)
    revoked_at: datetime = Field(sa_column=moment_column())
