"""`authserver audit list`: the security events of the audit log (docs/audit.md)."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from authserver.audit.events import EVENTS
from authserver.audit.repository import AuditQuery, describe_event, find_events
from authserver.cli.context import JsonOption, emit, transaction
from authserver.clock import utcnow
from authserver.users.repository import UserRepository

app = typer.Typer(no_args_is_help=True, help="The audit log of security events.")

_RELATIVE = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@app.command("list")
def list_events(
    since: Annotated[
        str | None,
        typer.Option(help="Only events since then: ISO 8601 (UTC unless it says) or 30m, 2h, 7d."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="Only events of this username.")] = None,
    client: Annotated[str | None, typer.Option(help="Only events of this client_id.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event, e.g. login.failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="The most recent N.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The most recent events that match, oldest first."""
    if event is not None and event not in EVENTS:
        raise typer.BadParameter(f"unknown event; one of: {', '.join(sorted(EVENTS))}")
    query = AuditQuery(
        since=parse_since(since) if since else None,
        username=user,
        client_id=client,
        event=event,
        limit=limit,
    )
    with transaction() as session:
        if user is not None and (found := UserRepository(session).find_by_username(user)):
            query = replace(query, user_id=found.id)
        events = [describe_event(e) for e in find_events(session, query)]
    emit(as_json, events, "\n".join(_line(e) for e in events) or "no events")


def parse_since(value: str) -> datetime:
    """`30m`, `2h`, `7d`, `3600s` ago, or an ISO 8601 time (naive means UTC)."""
    if match := _RELATIVE.match(value.strip()):
        amount, unit = match.groups()
        return utcnow() - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            "expected an ISO 8601 time (2026-12-01T08:00:00Z) or 30m, 2h, 7d", param_hint="--since"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _line(event: dict[str, object]) -> str:
    parts = [str(event["occurred_at"]), str(event["event"])]
    for name in ("username", "user_id", "client_id", "client_address", "actor"):
        if event[name] is not None:
            parts.append(f"{name}={event[name]}")
    details = event["details"]
    if isinstance(details, dict):
        parts += [f"{name}={value}" for name, value in details.items()]
    return "  ".join(parts)
