"""Signing in with a username and password: throttle, verify, start a session.

Three short transactions, none held open while argon2id runs: reserve the attempt
(committed, so that concurrent guesses see it), read the user, then on success start
the session. At most AUTHSERVER_LOGIN_MAX_CONCURRENT_HASHES verifications run at once
per process; a request that cannot get a slot within a few seconds is turned away
(`busy`) instead of queueing without bound.
"""

import threading
from dataclasses import dataclass
from datetime import timedelta

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.db import Database
from authserver.factors.enrolled import second_factors_of
from authserver.factors.pending import start_pending
from authserver.login.devices import known_device, remember_device
from authserver.login.models import LoginSession
from authserver.login.sessions import SignedIn, StartedSession, establish_session
from authserver.login.throttle import account_key, device_key
from authserver.throttling.logins import LoginThrottle
from authserver.users.authentication import find_user_for_sign_in, password_matches
from authserver.users.models import User
from authserver.users.passwords import PasswordHashing

_SLOT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class SignInResult:
    started: StartedSession | None = None
    retry_after: timedelta | None = None
    busy: bool = False
    # The new device cookie's secret after a sign-in (login/devices.py).
    device_secret: str | None = None
    # The password was right and the user has a second factor: the pending sign-in's
    # cookie value (factors/pending.py), which the second step turns into a session.
    pending: str | None = None


class SignIn:
    def __init__(
        self,
        database: Database,
        hashing: PasswordHashing,
        session_ttl: timedelta,
        max_hashes: int,
        throttle: LoginThrottle,
        mfa: str = "optional",
    ) -> None:
        self._database = database
        self._mfa = mfa
        self._throttle = throttle
        self._hashing = hashing
        self._session_ttl = session_ttl
        self._slots = threading.BoundedSemaphore(max_hashes)

    def __call__(
        self,
        username: str,
        password: str,
        address: str,
        previous: LoginSession | None,
        device_cookie: str | None = None,
        user_agent: str | None = None,
    ) -> SignInResult:
        """Sign in. The browser's `previous` session gets a new secret if it is the same
        user's (its `sid` and token families live on), else it ends. A browser whose
        `device_cookie` is known to the account is throttled on its own (devices.py). A
        user with a second factor gets a pending sign-in instead of a session."""
        device = self._known_device(device_cookie, username)
        account = device_key(device) if device else account_key(username)
        if wait := self._throttle.reserve(account, address):
            with self._database.transaction() as db:
                record_event(db, "login.throttled", wait_seconds=int(wait.total_seconds()) + 1)
            return SignInResult(retry_after=wait)
        if not self._slots.acquire(timeout=_SLOT_TIMEOUT_SECONDS):
            self._throttle.turned_away(account, address)
            return SignInResult(busy=True)
        try:
            with self._database.transaction() as db:
                user = find_user_for_sign_in(db, username)
            matches = password_matches(self._hashing, user, password)
            upgraded = self._upgraded_hash(user, password) if matches else None
        finally:
            self._slots.release()
        if not matches or user is None or user.id is None:
            self._throttle.failed(account, address)
            self._record_failure(user)
            return SignInResult()
        self._throttle.succeeded(account, address)
        with self._database.transaction() as db:
            now = utcnow()
            device_secret = remember_device(db, user.id, now, device)
            if upgraded:
                user.password_hash, user.updated_at = upgraded, now
                db.add(user)
            if self._mfa != "off" and second_factors_of(db, user.id).any:
                pending = start_pending(db, user.id, "pwd", now)
                record_event(db, "login.first_factor", user_id=user.id, username=user.username)
                return SignInResult(pending=pending, device_secret=device_secret)
            signed_in = SignedIn(user.id, user.username, "pwd", user_agent, address)
            started = establish_session(db, signed_in, previous, now, self._session_ttl)
            return SignInResult(started=started, device_secret=device_secret)

    @property
    def hashing(self) -> PasswordHashing:
        return self._hashing

    def _known_device(self, cookie_value: str | None, username: str) -> str | None:
        if not cookie_value:
            return None
        with self._database.reading() as db:
            return known_device(db, cookie_value, username, utcnow())

    def _record_failure(self, user: User | None) -> None:
        """An attempted username that names no (enabled) user is not stored: people
        type their password into the username field."""
        with self._database.transaction() as db:
            if user is None:
                record_event(db, "login.failed", reason="unknown or disabled user")
            else:
                record_event(
                    db, "login.failed", user_id=user.id, username=user.username, reason="password"
                )

    def _upgraded_hash(self, user: User | None, password: str) -> str | None:
        """A new hash when the current parameters are stronger than the stored ones."""
        if user is None or not self._hashing.needs_rehash(user.password_hash):
            return None
        return self._hashing.hash(password)
