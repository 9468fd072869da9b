"""A ceremony's challenge (WebAuthn L3 §13.4.3): random, used once, short-lived, and
bound to the browser it was given to.

Only its SHA-256 is stored. A challenge counts only for the ceremony (`purpose`) and the
browser (`binding`: a session's `sid`, a pending sign-in's hash, or the hash of the
browser's CSRF secret) it was issued for, and only until CHALLENGE_TTL has passed; the
conditional DELETE that consumes it decides, however many requests race with it.
"""

import hashlib
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete
from sqlmodel import Session, col
from webauthn.helpers import generate_challenge

from authserver.db import rows_changed
from authserver.passkeys.models import WebAuthnChallenge

CHALLENGE_TTL: Final = timedelta(minutes=5)
REGISTRATION: Final = "registration"
SIGN_IN: Final = "sign-in"
SECOND_FACTOR: Final = "second-factor"


def challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def issue_challenge(
    db: Session, purpose: str, binding: str, user_id: int | None, now: datetime
) -> bytes:
    """A new challenge for one ceremony of this browser (and, but for a username-less
    sign-in, of this user)."""
    challenge = generate_challenge()
    db.add(
        WebAuthnChallenge(
            challenge_hash=challenge_hash(challenge),
            purpose=purpose,
            binding=binding,
            user_id=user_id,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    db.flush()
    return challenge


def consume_challenge(
    db: Session, challenge: bytes, purpose: str, binding: str, now: datetime
) -> WebAuthnChallenge | None:
    """The challenge, if it was issued for `purpose` to `binding` and is still live; it is
    deleted, so that it is used once. None for every other caller."""
    hashed = challenge_hash(challenge)
    issued = db.get(WebAuthnChallenge, hashed, populate_existing=True)
    if issued is None or issued.purpose != purpose or issued.binding != binding:
        return None
    statement = delete(WebAuthnChallenge).where(
        col(WebAuthnChallenge.challenge_hash) == hashed,
        col(WebAuthnChallenge.expires_at) > now,
    )
    return issued if rows_changed(db.execute(statement)) == 1 else None


def purge_challenges(db: Session, now: datetime) -> int:
    """Delete the challenges nobody can use any more (`authserver db purge`)."""
    statement = delete(WebAuthnChallenge).where(col(WebAuthnChallenge.expires_at) <= now)
    return rows_changed(db.execute(statement))
