"""The login throttle's reservations (SECURITY-CHECKLIST: reserved atomically before argon2)."""

from datetime import timedelta

from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.throttle import FREE_ATTEMPTS_PER_ACCOUNT, reserve_attempt


def test_free_attempts_are_not_refused_to_a_request_whose_clock_was_read_earlier(
    database: Database,
) -> None:
    """Concurrent requests read the time before they queue for the row: an earlier `now`
    after a later one is normal, and must not look like a throttled retry."""
    later = utcnow()
    earlier = later - timedelta(milliseconds=5)
    with database.transaction() as db:
        assert reserve_attempt(db, "user:alice", FREE_ATTEMPTS_PER_ACCOUNT, later) is None
        assert reserve_attempt(db, "user:alice", FREE_ATTEMPTS_PER_ACCOUNT, earlier) is None


def test_after_the_free_attempts_each_failure_doubles_the_wait(database: Database) -> None:
    now = utcnow()
    with database.transaction() as db:
        for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
            assert reserve_attempt(db, "user:bob", FREE_ATTEMPTS_PER_ACCOUNT, now) is None
        first = reserve_attempt(db, "user:bob", FREE_ATTEMPTS_PER_ACCOUNT, now)
        assert first is not None and first <= timedelta(seconds=1)
        assert reserve_attempt(db, "user:bob", FREE_ATTEMPTS_PER_ACCOUNT, now + first) is None
        second = reserve_attempt(db, "user:bob", FREE_ATTEMPTS_PER_ACCOUNT, now + first)
        assert second is not None and second > first
