"""The one rule that says whether a token is still good (RFC 7009, RFC 7662, RFC 9700).

Refresh, introspection and userinfo all ask `family_is_good` and `access_token_is_active`,
so they can never disagree. A token is good while it has not expired, its `jti` is not
deny-listed, its family is neither revoked nor expired, its user is not disabled, its
client still exists (a family goes with its client; a `client_credentials` token is
checked against the clients table), and (checked by `verify_jwt` before) the key that
signed it is still published.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlmodel import Session

from authserver.clients.models import Client
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


# Built once: constructing a statement per call cost more than the round trip itself.
_revoked = RevokedAccessToken.__table__  # type: ignore[attr-defined]
_families = TokenFamily.__table__  # type: ignore[attr-defined]
_users = User.__table__  # type: ignore[attr-defined]
_clients = Client.__table__  # type: ignore[attr-defined]
_DENIED = exists().where(_revoked.c.jti == bindparam("jti"))
_CLIENT_EXISTS = exists().where(_clients.c.client_id == bindparam("client_id"))
_SERVICE_TOKEN_STATE = select(_DENIED.label("denied"), _CLIENT_EXISTS.label("client_exists"))
_FAMILY_STATE = (
    select(
        _families.c.revoked_at,
        _families.c.requested_claims,
        _users.c.disabled,
        _DENIED.label("denied"),
    )
    .join_from(_families, _users, _users.c.id == _families.c.user_id)
    .where(_families.c.id == bindparam("fid"))
)


@dataclass(frozen=True)
class ActiveFamily:
    """What the family of an active access token tells its readers (/userinfo)."""

    requested_claims: dict[str, list[str]] | None


def access_token_is_active(db: Session, claims: dict[str, Any], now: datetime) -> bool:
    """For a verified access token: one round trip, primary-key lookups only."""
    if claims.get("fid") is not None:
        return family_of_active_token(db, claims, now) is not None
    jti = claims.get("jti")
    if not isinstance(jti, str) or now.timestamp() >= claims["exp"]:
        return False
    parameters = {"jti": jti, "client_id": claims.get("client_id")}
    service = db.connection().execute(_SERVICE_TOKEN_STATE, parameters).one()
    return not service.denied and bool(service.client_exists)


def family_of_active_token(
    db: Session, claims: dict[str, Any], now: datetime
) -> ActiveFamily | None:
    """For a verified access token of a user's grant: its family when the token is
    active (the same one round trip), else None."""
    jti, fid = claims.get("jti"), claims.get("fid")
    if not isinstance(jti, str) or not isinstance(fid, str):
        return None
    if now.timestamp() >= claims["exp"]:
        return None
    row = db.connection().execute(_FAMILY_STATE, {"jti": jti, "fid": fid}).first()
    if row is None or row.denied or not family_is_good(row.revoked_at, row.disabled, now):
        return None
    return ActiveFamily(row.requested_claims)
