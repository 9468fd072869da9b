"""Reading the audit log back: newest events first, filtered by time, user, client, event."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from authserver.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditQuery:
    since: datetime | None = None
    user_id: int | None = None
    username: str | None = None
    client_id: str | None = None
    event: str | None = None
    limit: int = 100


def find_events(db: Session, query: AuditQuery) -> list[AuditEvent]:
    """The `limit` most recent events that match, oldest first: by when each happened, not
    by when its row was stored (a batched row, `AuditBuffer`, is stored up to a flush
    interval after events that came later); the row id breaks ties."""
    statement = select(AuditEvent)
    if query.since is not None:
        statement = statement.where(col(AuditEvent.occurred_at) >= query.since)
    who = []
    if query.user_id is not None:
        who.append(col(AuditEvent.user_id) == query.user_id)
    if query.username is not None:
        who.append(col(AuditEvent.username) == query.username)
    if who:
        statement = statement.where(or_(*who))
    if query.client_id is not None:
        statement = statement.where(col(AuditEvent.client_id) == query.client_id)
    if query.event is not None:
        statement = statement.where(col(AuditEvent.event) == query.event)
    order = (col(AuditEvent.occurred_at).desc(), col(AuditEvent.id).desc())
    statement = statement.order_by(*order).limit(query.limit)
    return list(reversed(db.exec(statement).all()))


def describe_event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "event": event.event,
        "actor": event.actor,
        "user_id": event.user_id,
        "username": event.username,
        "client_id": event.client_id,
        "client_address": event.client_address,
        "request_id": event.request_id,
        "details": json.loads(event.details),
    }
