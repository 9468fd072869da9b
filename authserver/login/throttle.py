"""Throttling password guesses per account and per IP address (SECURITY-CHECKLIST).

Each attempt is reserved before the password is checked, by a compare-and-set on the
counter, so concurrent guesses cannot all slip through one free slot. After the free
attempts, each failure doubles the wait before the next try, up to MAX_DELAY: no
permanent lockout that an attacker could use against the account's owner. A quiet hour
forgets the failures; a successful sign-in clears the account's counter.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col

from authserver.db import insert_if_absent
from authserver.login.models import LoginThrottle

FREE_ATTEMPTS_PER_ACCOUNT = 5
FREE_ATTEMPTS_PER_ADDRESS = 30
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
_MAX_RACES = 20
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def account_key(username: str) -> str:
    return "user:" + username.casefold()[:150]


def device_key(token_hash: str) -> str:
    """A browser known to the account: its guesses count apart from strangers' (devices.py)."""
    return "device:" + token_hash[:64]


def second_factor_key(user_id: int) -> str:
    """Second-factor guesses of one account (after its password was right)."""
    return f"mfa:{user_id}"


def address_key(address: str) -> str:
    return "ip:" + address[:100]


def reserve_attempt(db: Session, key: str, free: int, now: datetime) -> timedelta | None:
    """Count one attempt; None if it may proceed, else how long to wait before the next."""
    row = {"key": key, "failures": 0, "not_before": _LONG_AGO, "updated_at": now}
    insert_if_absent(db, LoginThrottle, row)
    for _ in range(_MAX_RACES):
        current = db.get(LoginThrottle, key, populate_existing=True)
        if current is None:
            break
        if now < current.not_before:
            return current.not_before - now
        failures = 0 if now - current.updated_at > FORGET_AFTER else current.failures
        delay = _delay(failures + 1, free)
        # A free attempt leaves `not_before` alone: moved to this request's `now`, it would
        # throttle a concurrent request whose clock was read a moment earlier.
        not_before = now + delay if delay else current.not_before
        if _swap(db, current, failures + 1, not_before, now):
            return None
    return MAX_DELAY  # lost every race: many guesses at once, which is itself a signal


def forgive_attempt(db: Session, key: str) -> None:
    """A successful sign-in: the reservation it made was not a failure."""
    statement = (
        update(LoginThrottle)
        .where(col(LoginThrottle.key) == key, col(LoginThrottle.failures) > 0)
        .values(failures=col(LoginThrottle.failures) - 1)
    )
    db.execute(statement)


def clear_attempts(db: Session, key: str) -> None:
    db.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key))


def purge_throttle(db: Session, now: datetime) -> int:
    statement = delete(LoginThrottle).where(col(LoginThrottle.updated_at) < now - FORGET_AFTER)
    return db.execute(statement).rowcount  # type: ignore[attr-defined]


def _delay(failures: int, free: int) -> timedelta:
    if failures < free:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - free, 20)), MAX_DELAY)


def _swap(
    db: Session, current: LoginThrottle, failures: int, not_before: datetime, now: datetime
) -> bool:
    statement = (
        update(LoginThrottle)
        .where(
            col(LoginThrottle.key) == current.key,
            col(LoginThrottle.failures) == current.failures,
            col(LoginThrottle.updated_at) == current.updated_at,
        )
        .values(failures=failures, not_before=not_before, updated_at=now)
    )
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]
