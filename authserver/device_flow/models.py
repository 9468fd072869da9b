"""A device authorization (RFC 8628 §3.1-3.2): its device code is stored as a SHA-256
hash, its user code as the 8 letters without the dash."""

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from authserver.db import moment_column

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
CONSUMED = "consumed"


class DeviceAuthorization(SQLModel, table=True):
    __tablename__ = "device_authorizations"

    device_code_hash: str = Field(primary_key=True, max_length=64)
    user_code: str = Field(max_length=8, unique=True, index=True)
    client_id: str = Field(
        foreign_key="clients.client_id", ondelete="CASCADE", max_length=64, index=True
    )
    scope: str = Field(default="", max_length=2000)
    audience: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Seconds the device must wait between polls (RFC 8628 §3.5: +5 on each slow_down).
    interval: int
    created_at: datetime = Field(sa_column=moment_column())
    expires_at: datetime = Field(sa_column=moment_column(index=True))
    last_polled_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    status: str = Field(default=PENDING, max_length=10)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE")
    auth_time: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=moment_column(nullable=True))
    family_id: str | None = Field(default=None, max_length=64)

    # Authlib's DeviceCredentialMixin: what the device code grant asks of it.
    def get_scope(self) -> str:
        return self.scope
