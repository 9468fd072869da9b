"""TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, what every authenticator app reads).

Enrolment stores a fresh 160-bit secret, sealed (`authserver.sealing`), and is confirmed
by a first code. A code is accepted for the current step or one either side (RFC 6238
§5.2: clock drift and typing time), and only for a step later than the last one
accepted: the conditional UPDATE of `last_step` decides, so a code cannot be used twice,
not even by two requests at once.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import pyotp
import segno
from sqlalchemy import delete, update
from sqlmodel import Session, col

from authserver.factors.models import TotpFactor
from authserver.sealing import Sealer, SealError

DIGITS: Final = 6
STEP_SECONDS: Final = 30
WINDOW: Final = 1


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def _context(user_id: int) -> str:
    return f"totp:{user_id}"


def confirmed_totp(db: Session, user_id: int) -> TotpFactor | None:
    factor = db.get(TotpFactor, user_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


def begin_enrolment(
    db: Session, sealer: Sealer, user_id: int, account_name: str, issuer_name: str, now: datetime
) -> Enrolment:
    """A new unconfirmed secret for a user without a confirmed one (it replaces an
    earlier unconfirmed secret); the caller checks there is no confirmed factor."""
    secret = pyotp.random_base32(32)
    db.execute(delete(TotpFactor).where(col(TotpFactor.user_id) == user_id))
    db.add(
        TotpFactor(
            user_id=user_id,
            sealed_secret=sealer.seal(secret, _context(user_id)),
            created_at=now,
        )
    )
    db.flush()
    return enrolment_of(secret, account_name, issuer_name)


def pending_enrolment(
    db: Session, sealer: Sealer, user_id: int, account_name: str, issuer_name: str
) -> Enrolment | None:
    """The unconfirmed secret being enrolled, shown again (a wrong first code)."""
    factor = db.get(TotpFactor, user_id)
    if factor is None or factor.confirmed_at is not None:
        return None
    secret = _open(sealer, factor)
    return enrolment_of(secret, account_name, issuer_name) if secret else None


def enrolment_of(secret: str, account_name: str, issuer_name: str) -> Enrolment:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer_name
    )
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff", border=2)
    return Enrolment(secret, uri, svg)


def confirm_enrolment(db: Session, sealer: Sealer, user_id: int, code: str, now: datetime) -> bool:
    """The first code of an unconfirmed secret: the factor is confirmed, the code used."""
    factor = db.get(TotpFactor, user_id)
    if factor is None or factor.confirmed_at is not None:
        return False
    if not _take_code(db, sealer, factor, code, now):
        return False
    statement = (
        update(TotpFactor)
        .where(col(TotpFactor.user_id) == user_id, col(TotpFactor.confirmed_at).is_(None))
        .values(confirmed_at=now)
    )
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def verify_totp(db: Session, sealer: Sealer, user_id: int, code: str, now: datetime) -> bool:
    """A code of the user's confirmed TOTP factor, not used before."""
    factor = confirmed_totp(db, user_id)
    return factor is not None and _take_code(db, sealer, factor, code, now)


def remove_totp(db: Session, user_id: int) -> bool:
    statement = delete(TotpFactor).where(col(TotpFactor.user_id) == user_id)
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def _take_code(db: Session, sealer: Sealer, factor: TotpFactor, code: str, now: datetime) -> bool:
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return False
    secret = _open(sealer, factor)
    if secret is None:
        return False
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    matched = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Every step is compared (in constant time), whichever matches.
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)) and matched is None:
            matched = step
    if matched is None or matched <= factor.last_step:
        return False
    statement = (
        update(TotpFactor)
        .where(col(TotpFactor.user_id) == factor.user_id, col(TotpFactor.last_step) < matched)
        .values(last_step=matched)
    )
    return db.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def _open(sealer: Sealer, factor: TotpFactor) -> str | None:
    try:
        return sealer.open(factor.sealed_secret, _context(factor.user_id))
    except SealError:
        return None
