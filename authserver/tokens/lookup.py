"""Finding a token presented to /revoke or /introspect: one of our JWT access tokens, or
one of our opaque refresh tokens, whatever `token_type_hint` says (RFC 7009 §2.1,
RFC 7662 §2.1: a hint may be wrong, so every type is searched; the shapes differ, so
this costs nothing). At most one indexed database round trip.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from authserver.jose import JwtRejected
from authserver.keys.keyring import KeyRing
from authserver.loop_reads import LoopReads
from authserver.opaque import opaque_hash
from authserver.settings import Settings
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.tokens.validity import (
    access_token_is_active,
    family_is_good,
    token_state_on_loop,
)
from authserver.tokens.verification import verify_jwt
from authserver.users.models import User

_MAX_REFRESH_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class FoundAccessToken:
    claims: dict[str, Any]
    active: bool

    @property
    def client_id(self) -> str | None:
        return self.claims.get("client_id")


@dataclass(frozen=True)
class FoundRefreshToken:
    token: RefreshToken
    family: TokenFamily
    active: bool

    @property
    def client_id(self) -> str:
        return self.family.client_id

    @property
    def expires_at(self) -> datetime:
        return min(self.token.expires_at, self.family.expires_at)


FoundToken = FoundAccessToken | FoundRefreshToken


def find_token(
    db: Session, keyring: KeyRing, settings: Settings, value: str, now: datetime
) -> FoundToken | None:
    """The token with its current state, or None if it is not one of ours at all."""
    if looks_like_access_token(value):
        return _find_access_token(db, keyring, settings, value, now)
    if len(value) > _MAX_REFRESH_TOKEN_LENGTH:
        return None
    return _find_refresh_token(db, value, now)


def looks_like_access_token(value: str) -> bool:
    return value.count(".") == 2


def _find_access_token(
    db: Session, keyring: KeyRing, settings: Settings, value: str, now: datetime
) -> FoundAccessToken | None:
    claims = _verified_claims(keyring, settings, value, now)
    if claims is None:
        return None
    return FoundAccessToken(claims, access_token_is_active(db, claims, now))


async def find_access_token_on_loop(
    reads: LoopReads, keyring: KeyRing, settings: Settings, value: str, now: datetime
) -> FoundAccessToken | None:
    """`find_token` for a JWT, its state read on the event loop (`authserver.loop_reads`)."""
    claims = _verified_claims(keyring, settings, value, now)
    if claims is None:
        return None
    return FoundAccessToken(claims, await token_state_on_loop(reads, claims, now) is not None)


def _verified_claims(
    keyring: KeyRing, settings: Settings, value: str, now: datetime
) -> dict[str, Any] | None:
    seconds = int(now.timestamp())
    try:
        return verify_jwt(value, keyring, settings, "access_token", seconds, allow_expired=True)
    except JwtRejected:
        return None


def _find_refresh_token(db: Session, value: str, now: datetime) -> FoundRefreshToken | None:
    statement = (
        select(RefreshToken, TokenFamily, User.disabled)
        .join(TokenFamily, col(TokenFamily.id) == col(RefreshToken.family_id))
        .join(User, col(User.id) == col(TokenFamily.user_id))
        .where(col(RefreshToken.token_hash) == opaque_hash(value))
    )
    row = db.execute(statement).first()
    if row is None:
        return None
    token, family, disabled = row
    expires_at = min(token.expires_at, family.expires_at)
    good = family_is_good(family.revoked_at, disabled, now, expires_at)
    return FoundRefreshToken(token, family, token.consumed_at is None and good)


def timestamp(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())
