"""What the `/device` page does (RFC 8628 §3.3): a signed-in user enters (or confirms) a
user code, sees which client asks for what, and approves or denies it.

Guessing user codes is throttled (RFC 8628 §5.1): every lookup is counted, per account
and per client address, before the code is read, in the sign-in throttle's table, with
its growing waits; a lookup that finds a live code is forgiven.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from authserver.audit import record_event
from authserver.clients.models import Client
from authserver.device_flow.codes import normalized
from authserver.device_flow.models import APPROVED, DENIED, PENDING, DeviceAuthorization
from authserver.device_flow.repository import DeviceAuthorizationRepository
from authserver.login.models import LoginSession
from authserver.login.throttle import forgive_attempt, reserve_attempt

FREE_LOOKUPS_PER_ACCOUNT = 5
FREE_LOOKUPS_PER_ADDRESS = 20


@dataclass(frozen=True)
class Found:
    """A live, pending authorization and the client asking."""

    authorization: DeviceAuthorization
    client: Client


@dataclass(frozen=True)
class Throttled:
    retry_after: timedelta


class NotFound:
    """No live, pending authorization has this code (or it could not be a code)."""


Lookup = Found | Throttled | NotFound


def look_up(db: Session, entry: str, user_id: int, address: str, now: datetime) -> Lookup:
    keys = [_account_key(user_id), _address_key(address)]
    waits = [
        reserve_attempt(db, keys[0], FREE_LOOKUPS_PER_ACCOUNT, now),
        reserve_attempt(db, keys[1], FREE_LOOKUPS_PER_ADDRESS, now),
    ]
    if wait := max((w for w in waits if w), default=None):
        return Throttled(wait)
    user_code = normalized(entry)
    found = DeviceAuthorizationRepository(db).find_by_user_code(user_code) if user_code else None
    if found is None or found.status != PENDING or found.expires_at <= now:
        return NotFound()
    client = db.get(Client, found.client_id)
    if client is None:
        return NotFound()
    for key in keys:
        forgive_attempt(db, key)
    return Found(found, client)


def decide(
    db: Session, found: Found, approve: bool, login_session: LoginSession, now: datetime
) -> bool:
    """Record the user's answer; False when the code was decided or expired meanwhile."""
    authorization = found.authorization
    decided = DeviceAuthorizationRepository(db).decide(
        authorization.device_code_hash,
        APPROVED if approve else DENIED,
        user_id=login_session.user_id,
        auth_time=login_session.auth_time,
        now=now,
    )
    if decided:
        record_event(
            db,
            "device.approved" if approve else "device.denied",
            user_id=login_session.user_id,
            client_id=authorization.client_id,
            scope=authorization.scope,
        )
    return decided


def _account_key(user_id: int) -> str:
    return f"device-code:user:{user_id}"


def _address_key(address: str) -> str:
    return "device-code:ip:" + address[:100]
