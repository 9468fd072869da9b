"""Sign-ins waiting for their second factor: a cookie secret, its SHA-256 stored.

A pending sign-in lives PENDING_TTL and is used once: the conditional DELETE that
finishes it decides, however many requests race with the same cookie.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from authserver.factors.models import PendingSignIn
from authserver.opaque import new_opaque_secret, opaque_hash

PENDING_TTL = timedelta(minutes=5)
_MAX_COOKIE_LENGTH = 100


def start_pending(db: Session, user_id: int, amr: str, now: datetime) -> str:
    """A first factor proved; the cookie value that carries it to the second step."""
    secret = new_opaque_secret()
    db.add(
        PendingSignIn(
            secret_hash=opaque_hash(secret),
            user_id=user_id,
            amr=amr,
            created_at=now,
            expires_at=now + PENDING_TTL,
        )
    )
    db.flush()
    return secret


def find_pending(db: Session, cookie_value: str | None, now: datetime) -> PendingSignIn | None:
    if not cookie_value or len(cookie_value) > _MAX_COOKIE_LENGTH:
        return None
    pending = db.get(PendingSignIn, opaque_hash(cookie_value))
    return pending if pending is not None and pending.expires_at > now else None


def finish_pending(db: Session, pending: PendingSignIn) -> bool:
    """True for the one caller that finished it."""
    statement = delete(PendingSignIn).where(col(PendingSignIn.secret_hash) == pending.secret_hash)
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def purge_pending(db: Session, now: datetime) -> int:
    statement = delete(PendingSignIn).where(col(PendingSignIn.expires_at) <= now)
    return db.execute(statement).rowcount  # type: ignore[attr-defined]
