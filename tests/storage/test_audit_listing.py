"""`authserver audit list` (authserver.audit.repository.find_events) lists events in the
order they happened. A batched row (`AuditBuffer`: client_credentials tokens, refreshes
rotated on the event loop) is stored up to a flush interval after events that came later,
so the row id alone would list it out of place."""

from datetime import timedelta

from authserver.audit.models import AuditEvent
from authserver.audit.repository import AuditQuery, find_events
from authserver.clock import utcnow
from authserver.db import Database


def test_a_row_stored_late_is_listed_when_it_happened(database: Database) -> None:
    now = utcnow()
    with database.transaction() as db:
        db.add(AuditEvent(occurred_at=now, event="refresh.reuse_detected"))
        db.add(AuditEvent(occurred_at=now, event="session.ended"))
    with database.transaction() as db:  # the batch, flushed afterwards
        db.add(AuditEvent(occurred_at=now - timedelta(milliseconds=300), event="token.issued"))
    with database.reading() as db:
        listed = [event.event for event in find_events(db, AuditQuery())]
        latest = [event.event for event in find_events(db, AuditQuery(limit=2))]
    assert listed == ["token.issued", "refresh.reuse_detected", "session.ended"]
    assert latest == ["refresh.reuse_detected", "session.ended"]  # the most recent two
