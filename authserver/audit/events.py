"""Recording a security event: one row in `audit_events` and one `authserver.audit` log line.

    record_event(db, "token.revoked", client_id=..., kind="family", family_id=...)

The row is written in the caller's transaction, so an event is stored exactly when the
change it describes is (a rolled-back request leaves neither). Events without a
transaction of their own (tokens of the self-contained client_credentials grant) go
through an `AuditBuffer`. The request's id and client address, or the CLI's actor,
come from the current `RequestContext`.

Every event is also counted for the metrics (`authserver.metrics.count_event`).
Callers pass identifiers only: a `jti`, a family id, a `kid`; never a token, code,
secret, password or private key.
"""

import logging
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from authserver.audit.models import AuditEvent
from authserver.clock import utcnow
from authserver.context import RequestContext, current_context
from authserver.metrics import count_event

log = logging.getLogger("authserver.audit")

# Core inserts: the ORM's bulk path costs several times more per row. One statement for
# every writer (a request's transaction, the batching `AuditBuffer`, the event loop's
# transaction in `authserver.async_db`), with the columns of every row `prepare_event`
# makes each bound by name, so it compiles the same whatever executes it.
AUDIT_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
ROW_COLUMNS = (
    "occurred_at",
    "event",
    "actor",
    "user_id",
    "username",
    "client_id",
    "client_address",
    "request_id",
    "details",
)
INSERT_EVENT_ROW = AUDIT_TABLE.insert().values({name: bindparam(name) for name in ROW_COLUMNS})

EVENTS = frozenset(
    {
        "login.succeeded",
        "login.failed",
        "login.throttled",
        "login.first_factor",  # a password (or upstream sign-in) right; a second factor next
        "login.second_factor_failed",
        "mfa.totp_enrolled",
        "mfa.totp_removed",
        "mfa.recovery_codes_created",
        "mfa.recovery_code_used",
        "mfa.reset",  # `authserver users mfa-reset`
        "passkey.registered",
        "passkey.removed",
        "password.changed",
        "consent.revoked",  # the account page's "revoke access"
        "upstream.provider_added",
        "upstream.provider_removed",
        "upstream.linked",
        "consent.granted",
        "device.approved",
        "device.denied",
        "token.issued",
        "refresh.reuse_detected",
        "code.reuse_detected",
        "token.revoked",
        "rate_limit.exceeded",  # logged and counted, not stored (note_event)
        "session.ended",
        "backchannel_logout.given_up",
        "key.created",
        "key.rotated",
        "key.revoked",
        "key.imported",
        "key.exported",
        "key.removed",  # a next key of an algorithm no longer in use (keys/rotation.py)
        "client.created",
        "client.deleted",
        "client.registered",  # RFC 7591: at /register
        "client.updated",  # RFC 7592 §2.2: at /register/{client_id}
        "registration_token.created",  # RFC 7591 §3: an initial access token
        "user.created",
        "user.disabled",
        "user.sessions_revoked",
        "db.purged",
    }
)

Row = dict[str, Any]


def record_event(
    db: Session,
    event: str,
    *,
    user_id: int | None = None,
    username: str | None = None,
    client_id: str | None = None,
    **details: object,
) -> None:
    """Store and log one event in the caller's transaction."""
    row = prepare_event(event, user_id=user_id, username=username, client_id=client_id, **details)
    # Core, on the transaction's connection: the ORM's bulk-insert path costs more than
    # the row's round trip.
    db.connection().execute(INSERT_EVENT_ROW, row)


def insert_event_rows(connection: Connection, rows: list[Row]) -> None:
    """Many rows in one `executemany` of the driver, as `INSERT_EVENT_ROW` would insert
    them: the statement compiled once per dialect and each value bound through its
    column's type, but without SQLAlchemy's per-row parameter processing, which cost
    more than the insert itself (a batch of `AuditBuffer` is up to a thousand rows)."""
    sql, positional, processors = _driver_insert(connection.dialect)
    values: list[Any] = []
    for row in rows:
        bound = [row[name] if bind is None else bind(row[name]) for name, bind in processors]
        if positional:
            values.append(tuple(bound))
        else:
            values.append({name: value for (name, _), value in zip(processors, bound, strict=True)})
    connection.exec_driver_sql(sql, values)


# The driver's SQL, whether its parameters are positional (else named), and each
# parameter's column name and bind processor (None when its type has none), in order.
_DriverInsert = tuple[str, bool, tuple[tuple[str, Any], ...]]
_driver_inserts: dict[tuple[str, str], _DriverInsert] = {}


def _driver_insert(dialect: Dialect) -> _DriverInsert:
    key = (dialect.name, dialect.driver)
    if (found := _driver_inserts.get(key)) is None:
        # inline(): no RETURNING of the new id, which an executemany has no use for.
        compiled = INSERT_EVENT_ROW.inline().compile(dialect=dialect)
        names = compiled.positiontup if compiled.positional else ROW_COLUMNS
        columns = AUDIT_TABLE.c
        found = _driver_inserts[key] = (
            compiled.string,
            compiled.positional,
            tuple(
                (name, columns[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in names or ()
            ),
        )
    return found


def note_event(event: str, *, client_id: str | None = None, **details: object) -> None:
    """Log and count an event that is not stored: one a flood could repeat thousands of
    times a second (`rate_limit.exceeded`), where a row each would feed the flood."""
    prepare_event(event, client_id=client_id, **details)


def prepare_event(
    event: str,
    *,
    user_id: int | None = None,
    username: str | None = None,
    client_id: str | None = None,
    **details: object,
) -> Row:
    """Log and count the event; the row to insert."""
    return announce_event(
        event,
        current_context(),
        utcnow(),
        user_id=user_id,
        username=username,
        client_id=client_id,
        **details,
    )


def announce_event(
    event: str,
    context: RequestContext | None,
    occurred_at: datetime,
    *,
    user_id: int | None = None,
    username: str | None = None,
    client_id: str | None = None,
    log_lines: list[logging.LogRecord] | None = None,
    **details: object,
) -> Row:
    """Log and count an event that happened at `occurred_at` in `context` (now, or a
    moment ago for a batched one); the row to insert. With `log_lines`, its log record
    joins that list (for `logs.emit_records`) instead of being logged at once, and it is
    not counted (the queue counted it: metrics must not lag a batch behind)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    details = {name: value for name, value in details.items() if value is not None}
    row: Row = {
        "occurred_at": occurred_at,
        "event": event,
        "actor": context.actor if context else None,
        "user_id": user_id,
        "username": username,
        "client_id": client_id,
        "client_address": context.client_address if context else None,
        "request_id": context.request_id if context else None,
        "details": orjson.dumps(details, default=str).decode("utf-8"),
    }
    fields = {k: v for k, v in row.items() if v is not None and k not in ("details", "event")}
    if context is current_context():
        fields.pop("occurred_at")  # the line's own time
        fields.pop("request_id", None)  # every log line of the request carries it already
    extra = {"fields": {"audit": event, **fields, **details}}
    if log_lines is None:
        log.info(event, extra=extra)
        count_event(event, {**fields, **details})
    else:  # batched: counted when it was queued
        record = log.makeRecord(log.name, logging.INFO, "", 0, event, (), None, extra=extra)
        log_lines.append(record)
    return row
