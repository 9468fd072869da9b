"""Leases in the database: which of several server processes or replicas does a periodic
job (key rotation) this time. A compare-and-set on one row, so a timer firing in every
replica at once still lets exactly one through (on SQLite and PostgreSQL alike).
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, col

from authserver.db import insert_if_absent, moment_column

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class Lease(SQLModel, table=True):
    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(default="", max_length=200)
    expires_at: datetime = Field(sa_column=moment_column())


def acquire_lease(db: Session, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take the lease `name` for `ttl` if nobody holds it; True for the one who got it."""
    insert_if_absent(db, Lease, {"name": name, "holder": "", "expires_at": _NEVER})
    statement = (
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.expires_at) <= now)
        .values(holder=holder, expires_at=now + ttl)
    )
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]
