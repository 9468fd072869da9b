"""Device cookies: a browser that has signed in to an account is known to it.

OWASP's answer to lockout as denial of service ("Slow Down Online Guessing Attacks with
Device Cookies"): attempts from a browser known to the account are throttled per device,
the others per account, so a stranger's wrong guesses cannot keep the owner out while
a thief of the device still gets only a few guesses. The cookie holds a random secret;
the table holds its SHA-256, the account and an expiry (DEVICE_TTL, renewed at each
sign-in from that browser).
"""

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from authserver.login.models import KnownDevice
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.users.authentication import find_user_for_sign_in

DEVICE_TTL = timedelta(days=90)
_MAX_COOKIE_LENGTH = 100


def known_device(db: Session, cookie_value: str | None, username: str, now: datetime) -> str | None:
    """The device's SHA-256 if the cookie names a live device of the account `username`."""
    if not cookie_value or len(cookie_value) > _MAX_COOKIE_LENGTH:
        return None
    token_hash = opaque_hash(cookie_value)
    device = db.get(KnownDevice, token_hash)
    if device is None or now >= device.expires_at:
        return None
    user = find_user_for_sign_in(db, username)
    return token_hash if user is not None and user.id == device.user_id else None


def remember_device(db: Session, user_id: int, now: datetime, known: str | None) -> str:
    """A new cookie secret for this browser and account (the old one, if any, replaced)."""
    if known is not None:
        db.execute(delete(KnownDevice).where(col(KnownDevice.token_hash) == known))
    secret = new_opaque_secret()
    device = KnownDevice(
        token_hash=opaque_hash(secret), user_id=user_id, created_at=now, expires_at=now + DEVICE_TTL
    )
    db.add(device)
    db.flush()
    return secret


def purge_devices(db: Session, now: datetime) -> int:
    statement = delete(KnownDevice).where(col(KnownDevice.expires_at) < now)
    return db.execute(statement).rowcount  # type: ignore[attr-defined]
