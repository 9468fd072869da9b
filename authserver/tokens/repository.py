"""Storage of codes, token families, refresh tokens and the access-token deny list.

Every state change that a concurrent request could race is one conditional UPDATE whose
row count says who won (RFC 9700 §4.14.2, RFC 6749 §4.1.2). Flushes, never commits.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, and_, bindparam, delete, text, update
from sqlmodel import Session, col, select

from authserver.db import UtcDateTime, insert_if_absent
from authserver.statuslists.allocation import StatusReference
from authserver.statuslists.repository import revoke_families
from authserver.tokens.models import (
    AuthorizationCode,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from authserver.users.models import User


class CodeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, code: AuthorizationCode) -> None:
        self.session.add(code)
        self.session.flush()

    def find(self, code_hash: str) -> AuthorizationCode | None:
        return self.session.get(AuthorizationCode, code_hash)

    def consume(self, code_hash: str, now: datetime) -> bool:
        """Mark the code used; True for the one caller that did (the others see a replay)."""
        statement = (
            update(AuthorizationCode)
            .where(
                col(AuthorizationCode.code_hash) == code_hash,
                col(AuthorizationCode.consumed_at).is_(None),
            )
            .values(consumed_at=now)
        )
        return self.session.execute(statement).rowcount == 1  # type: ignore[attr-defined]

    def record_family(self, code_hash: str, family_id: str) -> None:
        statement = (
            update(AuthorizationCode)
            .where(col(AuthorizationCode.code_hash) == code_hash)
            .values(family_id=family_id)
        )
        self.session.execute(statement)


class FamilyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, family: TokenFamily) -> TokenFamily:
        self.session.add(family)
        self.session.flush()
        return family

    def revoke(self, family_id: str, now: datetime) -> None:
        self._revoke(col(TokenFamily.id) == family_id, now)

    def revoke_of_session(self, sid: str, now: datetime) -> None:
        self._revoke(col(TokenFamily.session_id) == sid, now)

    def revoke_of_user(self, user_id: int, now: datetime) -> None:
        self._revoke(col(TokenFamily.user_id) == user_id, now)

    def revoke_of_user_and_client(self, user_id: int, client_id: str, now: datetime) -> None:
        self._revoke(
            and_(col(TokenFamily.user_id) == user_id, col(TokenFamily.client_id) == client_id),
            now,
        )

    def _revoke(self, condition: ColumnElement[bool], now: datetime) -> None:
        """Revoke the families, and set the status bit of each of their access tokens."""
        statement = (
            update(TokenFamily)
            .where(condition, col(TokenFamily.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        self.session.execute(statement)
        revoke_families(self.session, condition, now)


# Core statements built once for the refresh hot path: the ORM's unit of work and its
# per-call statement building cost several times the round trips themselves.
_refresh_tokens = RefreshToken.__table__  # type: ignore[attr-defined]
_INSERT_REFRESH_TOKEN = _refresh_tokens.insert()
_CONSUME = (
    _refresh_tokens.update()
    .where(
        _refresh_tokens.c.token_hash == bindparam("hash"),
        _refresh_tokens.c.consumed_at.is_(None),
    )
    .values(consumed_at=bindparam("now"))
)


# PostgreSQL: lock the family, consume the presented token and mint its successor in one
# statement (one round trip instead of three). The token is consumed only if every rule
# of `tokens.validity` holds and it belongs to the client; `rotated` says whether it was.
# Otherwise nothing changed but the lock, and the caller takes the general path, which
# tells reuse (RFC 9700 §4.14.2), grace and every error apart. A rotation also records
# the status-list index of the access token it is about to issue (`statuslists`). A family
# bound to a DPoP key (RFC 9449 §5) rotates only for a proof of that key (`:dpop_jkt`).
ROTATE_IN_ONE_STATEMENT = text(
    """
    WITH presented AS (
        SELECT t.token_hash, t.created_at AS token_created_at,
               t.expires_at AS token_expires_at, t.consumed_at,
               f.id AS family_id, f.client_id, f.user_id, f.session_id, f.scope, f.audience,
               f.auth_time, f.created_at AS family_created_at,
               f.expires_at AS family_expires_at, f.revoked_at, f.dpop_jkt, u.disabled
        FROM refresh_tokens t
        JOIN token_families f ON f.id = t.family_id
        JOIN users u ON u.id = f.user_id
        WHERE t.token_hash = :hash
        FOR UPDATE OF f
    ), consumed AS (
        UPDATE refresh_tokens SET consumed_at = :now
        FROM presented p
        WHERE refresh_tokens.token_hash = :hash
          AND refresh_tokens.consumed_at IS NULL
          AND p.revoked_at IS NULL AND NOT p.disabled AND p.client_id = :client_id
          AND p.token_expires_at > :now AND p.family_expires_at > :now
          AND (p.dpop_jkt IS NULL OR p.dpop_jkt = :dpop_jkt)
        RETURNING p.family_id, p.family_expires_at
    ), minted AS (
        INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, created_at, expires_at)
        SELECT :new_hash, family_id, :hash, :now, LEAST(family_expires_at, :idle_expires_at)
        FROM consumed
        RETURNING token_hash
    ), assigned AS (
        INSERT INTO status_assignments (list_id, idx, family_id)
        SELECT :status_list, :status_idx, family_id FROM consumed
    )
    SELECT presented.*, (SELECT count(*) FROM minted) AS rotated FROM presented
    """
).columns(
    token_created_at=UtcDateTime(),
    token_expires_at=UtcDateTime(),
    consumed_at=UtcDateTime(),
    auth_time=UtcDateTime(),
    family_created_at=UtcDateTime(),
    family_expires_at=UtcDateTime(),
    revoked_at=UtcDateTime(),
    audience=JSON(),
)


# The event loop runs the rotation statement on its own (autocommit: its own transaction)
# and builds the answer after it; if that answer is not a 200 (an unexpected error), this
# puts back exactly what the rotation changed: the presented token unconsumed (if it is
# still this rotation's), its successor, unsent, and the status entry gone.
UNDO_ROTATION = text(
    """
    WITH restored AS (
        UPDATE refresh_tokens SET consumed_at = NULL
        WHERE token_hash = :hash AND consumed_at = :now
    ), unassigned AS (
        DELETE FROM status_assignments WHERE list_id = :status_list AND idx = :status_idx
    )
    DELETE FROM refresh_tokens WHERE token_hash = :new_hash AND consumed_at IS NULL
    RETURNING token_hash
    """
)


@dataclass(frozen=True, slots=True)
class FamilyRow:
    """A token family as the rotation statement returned it: the columns of
    `TokenFamily`, without the ORM's instrumentation (a tenth of a rotation's CPU)."""

    id: str
    client_id: str
    user_id: int
    session_id: str | None
    scope: str
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    audience: list[str] | None = None
    dpop_jkt: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    """A refresh token as the rotation statement returned it (see `FamilyRow`)."""

    token_hash: str
    family_id: str
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None


@dataclass(frozen=True)
class Rotation:
    """What `rotate_in_one_statement` found: the token, its family, the user's state."""

    token: RefreshTokenRow
    family: FamilyRow
    user_disabled: bool
    rotated: bool


def rotation_parameters(
    token_hash: str,
    new_hash: str,
    client_id: str,
    now: datetime,
    idle_expires_at: datetime | None,
    status: StatusReference,
    dpop_jkt: str | None,
) -> dict[str, Any]:
    """`ROTATE_IN_ONE_STATEMENT`'s parameters (run by a session, or on the event loop);
    `dpop_jkt`: the key of the request's DPoP proof, if it sent one."""
    return {
        "dpop_jkt": dpop_jkt,
        "status_list": status.list_id,
        "status_idx": status.idx,
        "hash": token_hash,
        "new_hash": new_hash,
        "client_id": client_id,
        "now": now,
        "idle_expires_at": idle_expires_at,
    }


def rotation_from_row(row: Any) -> Rotation:
    """What `ROTATE_IN_ONE_STATEMENT` found. Its moments in UTC (as `UtcDateTime` reads
    them; psycopg alone answers in the session's time zone)."""
    token = RefreshTokenRow(
        token_hash=row.token_hash,
        family_id=row.family_id,
        created_at=_utc(row.token_created_at),
        expires_at=_utc(row.token_expires_at),
        consumed_at=_utc(row.consumed_at),
    )
    family = FamilyRow(
        id=row.family_id,
        client_id=row.client_id,
        user_id=row.user_id,
        session_id=row.session_id,
        scope=row.scope,
        auth_time=_utc(row.auth_time),
        created_at=_utc(row.family_created_at),
        expires_at=_utc(row.family_expires_at),
        revoked_at=_utc(row.revoked_at),
        audience=row.audience,
        dpop_jkt=row.dpop_jkt,
    )
    return Rotation(token, family, row.disabled, row.rotated == 1)


def _utc(moment: datetime | None) -> Any:
    return None if moment is None else moment.astimezone(UTC)


class RefreshTokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def rotates_in_one_statement(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def rotate_in_one_statement(self, parameters: dict[str, Any]) -> Rotation | None:
        """PostgreSQL only (`rotates_in_one_statement`); None if no such token.
        `parameters`: `rotation_parameters`."""
        row = self.session.connection().execute(ROTATE_IN_ONE_STATEMENT, parameters).first()
        return None if row is None else rotation_from_row(row)

    def add(self, token: RefreshToken) -> None:
        """Inserted at once (no unit of work); `token` is not attached to the session."""
        values = {column.name: getattr(token, column.name) for column in _refresh_tokens.c}
        self.session.connection().execute(_INSERT_REFRESH_TOKEN, values)

    def find(self, token_hash: str, *, fresh: bool = False) -> RefreshToken | None:
        """`fresh` re-reads the row, for a decision after a failed compare-and-set."""
        return self.session.get(RefreshToken, token_hash, populate_existing=fresh)

    def find_with_locked_family(
        self, token_hash: str
    ) -> tuple[RefreshToken, TokenFamily, User] | None:
        """The token, its family and user in one round trip, the family row locked
        (`FOR UPDATE OF token_families`) until the transaction ends."""
        statement = (
            select(RefreshToken, TokenFamily, User)
            .join(TokenFamily, col(TokenFamily.id) == col(RefreshToken.family_id))
            .join(User, col(User.id) == col(TokenFamily.user_id))
            .where(col(RefreshToken.token_hash) == token_hash)
            .with_for_update(of=TokenFamily)  # type: ignore[arg-type]
        )
        row = self.session.exec(statement).first()
        return (row[0], row[1], row[2]) if row else None

    def consume(self, token_hash: str, now: datetime) -> bool:
        """The compare-and-set of rotation: True for exactly one of concurrent callers."""
        result = self.session.connection().execute(_CONSUME, {"hash": token_hash, "now": now})
        return result.rowcount == 1

    def children_of(self, token_hash: str) -> list[RefreshToken]:
        statement = select(RefreshToken).where(RefreshToken.parent_hash == token_hash)
        return list(self.session.exec(statement.execution_options(populate_existing=True)).all())


class DenyList:
    """Revoked access tokens by `jti`, until they would have expired anyway."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, jti: str, expires_at: datetime) -> None:
        insert_if_absent(self.session, RevokedAccessToken, {"jti": jti, "expires_at": expires_at})

    def purge(self, now: datetime) -> int:
        statement = delete(RevokedAccessToken).where(col(RevokedAccessToken.expires_at) <= now)
        return self.session.execute(statement).rowcount  # type: ignore[attr-defined]
