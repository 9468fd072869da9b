"""`AuditBuffer`: batched audit rows stored as a request's own rows are, and its queue's
bound. On SQLite and PostgreSQL (the `database` fixture)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from authserver.audit import buffer as audit_buffer
from authserver.audit.buffer import AuditBuffer
from authserver.audit.events import AUDIT_TABLE, INSERT_EVENT_ROW, ROW_COLUMNS, insert_event_rows
from authserver.clock import utcnow
from authserver.context import RequestContext, enter_context, leave_context
from authserver.db import Database


def _row(event: str, **values: object) -> dict[str, object]:
    """A row of every column `prepare_event` fills; those not given are None."""
    row: dict[str, object] = dict.fromkeys(ROW_COLUMNS)
    row.update({"occurred_at": utcnow(), "event": event, "details": "{}", **values})
    return row


def _stored(database: Database) -> list[dict[str, object]]:
    with database.reading() as db:
        result = db.connection().execute(select(AUDIT_TABLE).order_by(AUDIT_TABLE.c.id))
        return [{k: v for k, v in row._mapping.items() if k != "id"} for row in result]


def test_a_batch_is_stored_as_the_statement_of_one_row_stores_it(database: Database) -> None:
    """The batch path (the driver's executemany) and `INSERT_EVENT_ROW` store the same."""
    full = _row(
        "token.revoked",
        actor="cli:root@host",
        user_id=7,
        username="alice é",
        client_id="c1",
        client_address="2001:db8::1",
        request_id="r" * 32,
        details='{"jti":"j","kind":"family"}',
    )
    sparse = _row("token.issued", client_id="c2")
    with database.transaction() as db:
        db.connection().execute(INSERT_EVENT_ROW, [full, sparse])
    one_by_one = _stored(database)
    with database.transaction() as db:
        db.connection().execute(AUDIT_TABLE.delete())
    with database.transaction() as db:
        insert_event_rows(db.connection(), [full, sparse])
    batched = _stored(database)

    assert batched == one_by_one
    assert [row["event"] for row in batched] == ["token.revoked", "token.issued"]
    assert batched[0]["occurred_at"] == full["occurred_at"]  # aware UTC, to the microsecond
    assert batched[0]["username"] == "alice é"


def test_a_naive_moment_is_refused_by_the_batch_too(database: Database) -> None:
    naive = _row("token.issued")
    naive["occurred_at"] = utcnow().replace(tzinfo=None)
    with pytest.raises(Exception, match="naive datetime"), database.transaction() as db:
        insert_event_rows(db.connection(), [naive])
    assert _stored(database) == []


def test_recorded_events_are_stored_with_their_request(database: Database) -> None:
    buffer = AuditBuffer(database, timedelta(seconds=60))
    token = enter_context(RequestContext("req-1", "192.0.2.1"))
    try:
        buffer.record("token.issued", client_id="c1", grant_type="client_credentials", jti="j1")
    finally:
        leave_context(token)
    buffer.record("token.issued", client_id="c2", jti="j2")

    assert buffer.flush() == 2
    rows = _stored(database)
    assert [(r["client_id"], r["request_id"], r["client_address"]) for r in rows] == [
        ("c1", "req-1", "192.0.2.1"),
        ("c2", None, None),
    ]
    assert '"jti":"j1"' in str(rows[0]["details"])
    assert buffer.flush() == 0  # nothing twice


def test_a_full_queue_drops_its_oldest_rows_and_counts_them(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_buffer, "MAX_QUEUED", 3)
    buffer = AuditBuffer(database, timedelta(seconds=60))
    buffer.enqueue([_row("token.issued", client_id=f"c{n}") for n in range(5)])

    assert buffer.dropped == 2
    assert buffer.flush() == 3
    assert [row["client_id"] for row in _stored(database)] == ["c2", "c3", "c4"]
