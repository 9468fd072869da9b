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

from sqlalchemy import Select, bindparam, exists, select
from sqlmodel import Session

from authserver.clients.models import Client
from authserver.loop_reads import LoopReads
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

# /userinfo on the event loop: the same row, with what its answer needs of the user.
_FAMILY_AND_USER = _FAMILY_STATE.add_columns(
    _users.c.username, _users.c.email, _users.c.updated_at
).where(_users.c.id == bindparam("uid"))
_MAX_USER_ID = 2**31 - 1  # users.id is an INTEGER


@dataclass(frozen=True)
class ActiveFamily:
    """What the family of an active access token tells its readers (/userinfo)."""

    requested_claims: dict[str, list[str]] | None


@dataclass(frozen=True)
class StateQuestion:
    """The one round trip that tells whether a verified access token is still active:
    a prebuilt statement and its parameters; `answer` reads its row. Asked through a
    session (`token_state`) or on the event loop (`authserver.async_db`)."""

    statement: Select[Any]
    parameters: dict[str, Any]
    of_family: bool

    def answer(self, row: Any, now: datetime) -> ActiveFamily | None:
        """The family (an empty one for a service token) when the token is active."""
        if row is None or row.denied:
            return None
        if not self.of_family:
            return _SERVICE_TOKEN if row.client_exists else None
        if not family_is_good(row.revoked_at, row.disabled, now):
            return None
        return ActiveFamily(row.requested_claims)


_SERVICE_TOKEN = ActiveFamily(None)


def state_question(claims: dict[str, Any], now: datetime) -> StateQuestion | None:
    """The question for a verified access token, or None when its claims already say it
    is not active (expired, or without a usable `jti`)."""
    jti, fid = claims.get("jti"), claims.get("fid")
    if not isinstance(jti, str) or now.timestamp() >= claims["exp"]:
        return None
    if fid is None:
        parameters = {"jti": jti, "client_id": claims.get("client_id")}
        return StateQuestion(_SERVICE_TOKEN_STATE, parameters, of_family=False)
    if not isinstance(fid, str):
        return None
    return StateQuestion(_FAMILY_STATE, {"jti": jti, "fid": fid}, of_family=True)


def token_state(db: Session, claims: dict[str, Any], now: datetime) -> ActiveFamily | None:
    """For a verified access token: one round trip, primary-key lookups only."""
    question = state_question(claims, now)
    if question is None:
        return None
    row = db.connection().execute(question.statement, question.parameters).first()
    return question.answer(row, now)


async def token_state_on_loop(
    reads: LoopReads, claims: dict[str, Any], now: datetime
) -> ActiveFamily | None:
    """`token_state`, asked on the event loop (`authserver.loop_reads`)."""
    question = state_question(claims, now)
    if question is None:
        return None
    row = await reads.first(question.statement, question.parameters)
    return question.answer(row, now)


def access_token_is_active(db: Session, claims: dict[str, Any], now: datetime) -> bool:
    return token_state(db, claims, now) is not None


def family_of_active_token(
    db: Session, claims: dict[str, Any], now: datetime
) -> ActiveFamily | None:
    """For a verified access token of a user's grant: its family when the token is
    active (the same one round trip), else None."""
    if not isinstance(claims.get("fid"), str):
        return None
    return token_state(db, claims, now)


def user_id_of(claims: dict[str, Any]) -> int | None:
    """The `users.id` a user's token names in `sub`, or None for any other `sub`."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or int(sub) > _MAX_USER_ID:
        return None
    return int(sub)


async def family_and_user_on_loop(
    reads: LoopReads, claims: dict[str, Any], now: datetime
) -> tuple[ActiveFamily, Any] | None:
    """`family_of_active_token` and the token's user (its `username`, `email` and
    `updated_at`) in one read on the event loop (/userinfo, `authserver.loop_reads`), or
    None when the token is not active or its `sub` is no user of its family."""
    question = state_question(claims, now)
    user_id = user_id_of(claims)
    if question is None or not question.of_family or user_id is None:
        return None
    row = await reads.first(_FAMILY_AND_USER, {**question.parameters, "uid": user_id})
    family = question.answer(row, now)
    return None if family is None else (family, row)
