"""The outbox's storage: enqueue in the caller's transaction, claim, settle, list.

A message is claimed for `CLAIM_SECONDS` by one process at a time: on PostgreSQL the
due rows are picked with `FOR UPDATE SKIP LOCKED`, so replicas claiming at once take
different rows and never wait for each other; on SQLite the claim's transaction holds
the single write lock. The claim is a lease: a process that dies mid-delivery leaves
its messages to be taken again once the lease has passed (at-least-once delivery;
Logout Tokens are idempotent at the client).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, update
from sqlmodel import Session, col, select

from authserver.backchannel.models import OutboxMessage
from authserver.clients.models import Client
from authserver.db import rows_changed
from authserver.tokens.models import TokenFamily

BACKCHANNEL_LOGOUT = "backchannel_logout"
CLAIM_SECONDS = 30
MAX_ERROR_LENGTH = 500


def enqueue_session_logout(db: Session, sid: str, user_id: int, now: datetime) -> int:
    """A Logout Token for every client with a `backchannel_logout_uri` that received
    tokens in the session `sid` (§2.7: the RPs of that session); the count."""
    clients = db.exec(
        select(col(Client.client_id), col(Client.backchannel_logout_uri))
        .join(TokenFamily, col(TokenFamily.client_id) == col(Client.client_id))
        .where(
            col(TokenFamily.session_id) == sid,
            col(Client.backchannel_logout_uri).is_not(None),
        )
        .distinct()
    ).all()
    for client_id, uri in clients:
        db.add(
            OutboxMessage(
                kind=BACKCHANNEL_LOGOUT,
                client_id=client_id,
                target_uri=uri,
                sid=sid,
                subject=str(user_id),
                created_at=now,
                next_attempt_at=now,
            )
        )
    db.flush()
    return len(clients)


@dataclass(frozen=True)
class Claimed:
    id: int
    client_id: str
    target_uri: str
    sid: str | None
    subject: str | None
    created_at: datetime
    attempts: int


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(OutboxMessage.delivered_at).is_(None),
        col(OutboxMessage.given_up_at).is_(None),
        col(OutboxMessage.next_attempt_at) <= now,
        or_(
            col(OutboxMessage.claimed_until).is_(None),
            col(OutboxMessage.claimed_until) < now,
        ),
    )


def any_due(db: Session, now: datetime) -> bool:
    """Whether a message is due: a plain read, so that an idle outbox never writes."""
    return db.exec(select(col(OutboxMessage.id)).where(*_due(now)).limit(1)).first() is not None


def claim_due(db: Session, now: datetime, limit: int) -> list[Claimed]:
    """Up to `limit` due messages, claimed by this process until `CLAIM_SECONDS` pass."""
    statement = (
        select(OutboxMessage)
        .where(*_due(now))
        .order_by(col(OutboxMessage.next_attempt_at))
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    messages = db.exec(statement).all()
    if not messages:
        return []
    ids = [message.id for message in messages]
    db.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    return [
        Claimed(
            id=message.id,  # type: ignore[arg-type]
            client_id=message.client_id,
            target_uri=message.target_uri,
            sid=message.sid,
            subject=message.subject,
            created_at=message.created_at,
            attempts=message.attempts,
        )
        for message in messages
    ]


def settle_delivered(db: Session, message: Claimed, now: datetime) -> None:
    db.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message.id)
        .values(delivered_at=now, attempts=message.attempts + 1, claimed_until=None)
    )


def settle_failed(
    db: Session, message: Claimed, error: str, now: datetime, retry_at: datetime | None
) -> None:
    """Another attempt at `retry_at`; None gives the message up (it stays, recorded)."""
    values: dict[str, object] = {
        "attempts": message.attempts + 1,
        "last_error": error[:MAX_ERROR_LENGTH],
        "claimed_until": None,
    }
    if retry_at is None:
        values["given_up_at"] = now
    else:
        values["next_attempt_at"] = retry_at
    db.execute(update(OutboxMessage).where(col(OutboxMessage.id) == message.id).values(**values))


def undelivered(db: Session, *, include_delivered: bool = False) -> list[OutboxMessage]:
    """Pending and given-up messages (and delivered ones when asked), oldest first."""
    statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
    if not include_delivered:
        statement = statement.where(col(OutboxMessage.delivered_at).is_(None))
    return list(db.exec(statement).all())


def purge_outbox(db: Session, delivered_before: datetime, given_up_before: datetime) -> int:
    """Delivered messages past a day, given-up ones past the audit retention."""
    statement = delete(OutboxMessage).where(
        or_(
            col(OutboxMessage.delivered_at) < delivered_before,
            col(OutboxMessage.given_up_at) < given_up_before,
        )
    )
    return rows_changed(db.execute(statement))
