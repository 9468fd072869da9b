"""The sign-in throttle, per account and per client address, in Redis or in the database.

Both follow SECURITY-CHECKLIST: every attempt on an account is counted before its
password is checked (so parallel guesses cannot share one free slot), a successful
sign-in clears the account's count, and nothing locks an account for good.

- Without Redis (and while Redis does not answer) the database keeps the counts
  (`login.throttle`): 5 free attempts per account and 30 per address, then a wait that
  doubles with each failure, up to 15 minutes. It holds across replicas as it is.
- With AUTHSERVER_REDIS_URL, Redis keeps them (`limits`, moving windows, no database
  write per attempt): per account 5 a minute and 20 an hour; per address 30 a minute and
  300 an hour. An address counts failures only (checked before,
  counted after the password), so that an office's sign-ins behind one NAT do not use
  it up; its count may overshoot by the verifications running at that moment.
"""

import time
from datetime import timedelta
from typing import Protocol

from limits import RateLimitItem, parse_many
from limits.strategies import MovingWindowRateLimiter

from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.throttle import (
    FREE_ATTEMPTS_PER_ACCOUNT,
    FREE_ATTEMPTS_PER_ADDRESS,
    address_key,
    clear_attempts,
    forgive_attempt,
    reserve_attempt,
)
from authserver.throttling.shared import SharedCounters

# The longest window is the longest wait: an attacker can hold an account for an hour at
# most (SECURITY-CHECKLIST: a growing delay, no lockout an attacker could use).
ACCOUNT_LIMITS = parse_many(f"{FREE_ATTEMPTS_PER_ACCOUNT}/minute;20/hour")
ADDRESS_LIMITS = parse_many(f"{FREE_ATTEMPTS_PER_ADDRESS}/minute;300/hour")


class LoginThrottle(Protocol):
    def reserve(self, account: str, address: str) -> timedelta | None:
        """Count an attempt before the password is checked: None, or how long to wait.

        `account` is the throttle's key for whom the attempt is on: `account_key(username)`,
        or `device_key(...)` for a browser known to that account (`login/devices.py`)."""
        ...

    def turned_away(self, account: str, address: str) -> None:
        """The attempt was not heard (the server was busy): it is no failure."""
        ...

    def succeeded(self, account: str, address: str) -> None: ...

    def failed(self, account: str, address: str) -> None: ...


class DatabaseLoginThrottle:
    def __init__(self, database: Database) -> None:
        self._database = database

    def reserve(self, account: str, address: str) -> timedelta | None:
        with self._database.transaction() as db:
            now = utcnow()
            waits = [
                reserve_attempt(db, account, FREE_ATTEMPTS_PER_ACCOUNT, now),
                reserve_attempt(db, address_key(address), FREE_ATTEMPTS_PER_ADDRESS, now),
            ]
        return max((w for w in waits if w), default=None)

    def turned_away(self, account: str, address: str) -> None:
        with self._database.transaction() as db:
            forgive_attempt(db, account)
            forgive_attempt(db, address_key(address))

    def succeeded(self, account: str, address: str) -> None:
        with self._database.transaction() as db:
            clear_attempts(db, account)
            forgive_attempt(db, address_key(address))

    def failed(self, account: str, address: str) -> None:
        """Counted already, at `reserve`."""


class RedisLoginThrottle:
    def __init__(self, counters: SharedCounters, fallback: DatabaseLoginThrottle) -> None:
        if counters.redis is None:
            raise ValueError("RedisLoginThrottle needs AUTHSERVER_REDIS_URL")
        self._counters = counters
        self._windows = MovingWindowRateLimiter(counters.redis)
        self._fallback = fallback

    def reserve(self, account: str, address: str) -> timedelta | None:
        return self._counters.use(
            lambda: self._reserve(account, address),
            lambda: self._fallback.reserve(account, address),
        )

    def turned_away(self, account: str, address: str) -> None:
        """A moving window cannot give an attempt back: it stays counted."""

    def succeeded(self, account: str, address: str) -> None:
        def clear() -> None:
            for item in ACCOUNT_LIMITS:
                self._windows.clear(item, "login-account", account)

        self._counters.use(clear, lambda: self._fallback.succeeded(account, address))

    def failed(self, account: str, address: str) -> None:
        def count() -> None:
            for item in ADDRESS_LIMITS:
                self._windows.hit(item, "login-address", address_key(address))

        self._counters.use(count, lambda: None)

    def _reserve(self, account: str, address: str) -> timedelta | None:
        for item in ACCOUNT_LIMITS:
            if not self._windows.hit(item, "login-account", account):
                return self._wait(item, "login-account", account)
        where = address_key(address)
        for item in ADDRESS_LIMITS:
            if not self._windows.test(item, "login-address", where):
                return self._wait(item, "login-address", where)
        return None

    def _wait(self, item: RateLimitItem, *identifiers: str) -> timedelta:
        reset_at = self._windows.get_window_stats(item, *identifiers).reset_time
        return timedelta(seconds=max(1.0, reset_at - time.time()))
