"""The one rule that says whether a token is still good (RFC 7009, RFC 7662, RFC 9700).

Refresh, introspection and userinfo all ask `family_is_good` and `access_token_is_active`,
so they can never disagree. A token is good while it has not expired, its `jti` is not
deny-listed, its family is neither revoked nor expired, its user is not disabled, and
(checked by `verify_jwt` before) the key that signed it is still published.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import Session, col

from authserver.tokens.models import RevokedAccessToken, TokenFamily
from authserver.users.models import User


def family_is_good(
    revoked_at: datetime | None,
    user_disabled: bool,
    now: datetime,
    expires_at: datetime | None = None,
) -> bool:
    """Neither revoked nor of a disabled user, nor past `expires_at` when one applies
    (a refresh token's; an access token is bounded by its own `exp` instead)."""
    return revoked_at is None and not user_disabled and (expires_at is None or now < expires_at)


def access_token_is_active(db: Session, claims: dict[str, Any], now: datetime) -> bool:
    """For a verified access token: one round trip, primary-key lookups only."""
    jti, fid = claims.get("jti"), claims.get("fid")
    if not isinstance(jti, str) or (fid is not None and not isinstance(fid, str)):
        return False
    if now.timestamp() >= claims["exp"]:
        return False
    denied = exists().where(col(RevokedAccessToken.jti) == jti)
    if fid is None:
        return not db.execute(select(denied)).scalar_one()
    family = (
        select(TokenFamily.revoked_at, User.disabled, denied)
        .join(User, col(User.id) == col(TokenFamily.user_id))
        .where(col(TokenFamily.id) == fid)
    )
    row = db.execute(family).first()
    if row is None or row[2]:
        return False
    return family_is_good(row.revoked_at, row.disabled, now)
