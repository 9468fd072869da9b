"""Initial access tokens (RFC 7591 §3, §1.2): what an operator hands a developer so that
one or more clients may register while AUTHSERVER_REGISTRATION=protected.

A token is an opaque secret (`authserver.opaque`): 256 random bits, stored only as its
SHA-256, so a lookup by hash is the comparison (nothing to compare byte by byte, nothing
to time). Each registration takes one use in an atomic conditional UPDATE, in the
registration's transaction: a registration refused for its metadata (rolled back) uses
nothing, and of two registrations racing for a token's last use exactly one succeeds.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col

from authserver.db import rows_changed
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.registration.models import InitialAccessToken

DEFAULT_LIFETIME = timedelta(days=1)
MAX_LIFETIME = timedelta(days=365)
MAX_USES = 1_000_000


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str  # for the audit log: a prefix of the hash, never the token
    expires_at: datetime
    max_uses: int


def issue_initial_access_token(
    db: Session, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME, max_uses: int = 1
) -> IssuedToken:
    """Store a new token's hash; the token itself is returned once and never stored."""
    if not timedelta(seconds=1) <= lifetime <= MAX_LIFETIME:
        raise ValueError(f"the lifetime must be 1 s to {MAX_LIFETIME.days} days")
    if not 1 <= max_uses <= MAX_USES:
        raise ValueError(f"the number of uses must be 1 to {MAX_USES}")
    token = new_opaque_secret()
    row = InitialAccessToken(
        token_hash=opaque_hash(token),
        created_at=now,
        expires_at=now + lifetime,
        max_uses=max_uses,
    )
    db.add(row)
    db.flush()
    return IssuedToken(token, token_id_of(row.token_hash), row.expires_at, max_uses)


def use_initial_access_token(db: Session, token: str, now: datetime) -> str | None:
    """Take one use of a live token; its id, or None when it is unknown, expired or used up."""
    token_hash = opaque_hash(token)
    taken = db.execute(
        update(InitialAccessToken)
        .where(
            col(InitialAccessToken.token_hash) == token_hash,
            col(InitialAccessToken.expires_at) > now,
            col(InitialAccessToken.uses) < col(InitialAccessToken.max_uses),
        )
        .values(uses=col(InitialAccessToken.uses) + 1)
    )
    return token_id_of(token_hash) if rows_changed(taken) == 1 else None


def token_id_of(token_hash: str) -> str:
    return token_hash[:16]


def purge_initial_access_tokens(db: Session, now: datetime) -> int:
    """Expired tokens: nothing can use them any more."""
    expired = delete(InitialAccessToken).where(col(InitialAccessToken.expires_at) <= now)
    return rows_changed(db.execute(expired))
