"""Server-side SSO sessions: start at sign-in, look up by cookie, end at logout.

The cookie carries 256 random bits; the database keeps only their SHA-256, so a copy of
the database cannot be replayed as a cookie. A session ends at the first of its absolute
expiry (AUTHSERVER_SESSION_TTL), its idle expiry (AUTHSERVER_SESSION_IDLE_TTL) or logout.
Ending a session revokes the token families issued under it and tells its clients
(OpenID Connect Back-Channel Logout 1.0, through the outbox); so does its expiry, noticed
by the outbox's sweep, except that the families of an expired session live on.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from authserver.audit import record_event
from authserver.backchannel.outbox import enqueue_session_logout
from authserver.login.models import LoginSession
from authserver.login.repository import SessionRepository
from authserver.opaque import new_identifier, new_opaque_secret, opaque_hash
from authserver.tokens.repository import FamilyRepository

# Writing last_seen_at on every request would make each authorize a write; once a minute
# (or a tenth of a shorter idle timeout) is precise enough.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class StartedSession:
    cookie_value: str
    session: LoginSession


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, how (RFC 8176 `amr` values, space-separated) and from where."""

    user_id: int
    username: str
    amr: str
    user_agent: str | None = None
    address: str | None = None


def establish_session(
    db: Session, signed_in: SignedIn, previous: LoginSession | None, now: datetime, ttl: timedelta
) -> StartedSession:
    """Where every sign-in ends (a password, a second factor, a passkey, an upstream
    provider). The browser's `previous` session gets a new secret if it is the same
    user's (its `sid` and token families live on), else it ends."""
    if previous is not None and previous.user_id == signed_in.user_id:
        started = renew_session(db, previous, signed_in, now, ttl)
    else:
        if previous is not None:
            end_session(db, previous, now, "replaced")
        started = start_session(db, signed_in, now, ttl)
    record_event(
        db,
        "login.succeeded",
        user_id=signed_in.user_id,
        username=signed_in.username,
        sid=started.session.sid,
        method=signed_in.amr,
    )
    return started


def start_session(
    db: Session, signed_in: SignedIn, now: datetime, ttl: timedelta
) -> StartedSession:
    """A new session with a new secret: a sign-in never reuses an id (no fixation)."""
    secret = new_opaque_secret()
    login_session = LoginSession(
        secret_hash=opaque_hash(secret),
        sid=new_identifier(),
        user_id=signed_in.user_id,
        auth_time=now,
        amr=signed_in.amr,
        user_agent=_bounded(signed_in.user_agent, 300),
        address=_bounded(signed_in.address, 64),
        last_seen_at=now,
        expires_at=now + ttl,
    )
    SessionRepository(db).add(login_session)
    return StartedSession(secret, login_session)


def renew_session(
    db: Session, login_session: LoginSession, signed_in: SignedIn, now: datetime, ttl: timedelta
) -> StartedSession:
    """The same user signed in again (or proved a second factor): a new secret, `auth_time`
    and `amr`, the same `sid`."""
    secret = new_opaque_secret()
    SessionRepository(db).renew(
        login_session.secret_hash,
        opaque_hash(secret),
        now,
        ttl,
        amr=signed_in.amr,
        user_agent=_bounded(signed_in.user_agent, 300),
        address=_bounded(signed_in.address, 64),
    )
    renewed = SessionRepository(db).find_by_sid(login_session.sid)
    if renewed is None or renewed.ended_at is not None:  # a logout came first: start afresh
        return start_session(db, signed_in, now, ttl)
    return StartedSession(secret, renewed)


def _bounded(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


def find_active_session(
    db: Session, cookie_value: str | None, now: datetime, idle_ttl: timedelta
) -> LoginSession | None:
    """The live session the cookie names, its last-seen time refreshed; else None."""
    if not cookie_value or len(cookie_value) > 100:
        return None
    repository = SessionRepository(db)
    login_session = repository.find_by_secret_hash(opaque_hash(cookie_value))
    if login_session is None or not is_active(login_session, now, idle_ttl):
        return None
    if now - login_session.last_seen_at >= min(_TOUCH_EVERY, idle_ttl / 10):
        repository.touch(login_session.secret_hash, now)
    return login_session


def is_active(login_session: LoginSession, now: datetime, idle_ttl: timedelta) -> bool:
    return (
        login_session.ended_at is None
        and now < login_session.expires_at
        and now < login_session.last_seen_at + idle_ttl
    )


def end_session(db: Session, login_session: LoginSession, now: datetime, reason: str) -> None:
    """End the session and everything it gave out (OIDC RP-Initiated Logout §2).

    `reason` goes to the audit log: `logout`, or `replaced` by another user's sign-in."""
    end_session_by_sid(db, login_session.sid, login_session.user_id, now, reason)


def end_session_by_sid(db: Session, sid: str, user_id: int, now: datetime, reason: str) -> None:
    """End a session, revoke its token families, and tell its clients (Back-Channel
    Logout 1.0 §2.7, from the outbox); `reason` also `refresh reuse` (RFC 9700 §4.14.2)."""
    ended_now = SessionRepository(db).end(sid, now)
    FamilyRepository(db).revoke_of_session(sid, now)
    if ended_now:  # an ended (or expired and swept) session's clients were told then
        enqueue_session_logout(db, sid, user_id, now)
    record_event(db, "session.ended", user_id=user_id, sid=sid, reason=reason)


def end_all_sessions_of_user(db: Session, user_id: int, now: datetime, reason: str) -> None:
    """Sign out everywhere: every session and every token family of the user, each
    session's clients told by a Logout Token."""
    sids = SessionRepository(db).end_all_of_user(user_id, now)
    FamilyRepository(db).revoke_of_user(user_id, now)
    for sid in sids:
        enqueue_session_logout(db, sid, user_id, now)
        record_event(db, "session.ended", user_id=user_id, sid=sid, reason=reason)
    record_event(db, "token.revoked", user_id=user_id, kind="user", reason=reason)


def end_expired_sessions(db: Session, now: datetime, idle_ttl: timedelta) -> int:
    """Mark the sessions that expired (absolute or idle) as ended, and tell their clients.

    Their token families live on (a refresh token outlives the browser session, as
    before); only the clients' own sessions end. Each session is ended by exactly one
    caller: the conditional UPDATE decides, however many processes sweep at once."""
    repository = SessionRepository(db)
    ended = 0
    for sid, user_id in repository.expired_unended(now, idle_ttl):
        if repository.end(sid, now):
            enqueue_session_logout(db, sid, user_id, now)
            record_event(db, "session.ended", user_id=user_id, sid=sid, reason="expired")
            ended += 1
    return ended
