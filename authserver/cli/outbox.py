"""`authserver outbox list`: back-channel logout deliveries not yet made, and given up."""

from typing import Annotated

import typer

from authserver.backchannel.models import OutboxMessage
from authserver.backchannel.outbox import undelivered
from authserver.cli.context import JsonOption, emit, transaction

app = typer.Typer(no_args_is_help=True, help="The outbox of back-channel logout deliveries.")


@app.command("list")
def list_messages(
    include_delivered: Annotated[
        bool, typer.Option("--all", help="Delivered messages too (kept a day).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Pending and failed (given up) deliveries, oldest first."""
    with transaction() as session:
        messages = [
            describe(message)
            for message in undelivered(session, include_delivered=include_delivered)
        ]
    lines = [
        f"{m['id']}  {m['state']:<9}  {m['client_id']}  {m['target_uri']}  "
        f"attempts {m['attempts']}{'  last error: ' + m['last_error'] if m['last_error'] else ''}"
        for m in messages
    ]
    emit(as_json, messages, "\n".join(lines) or "the outbox is empty")


def describe(message: OutboxMessage) -> dict[str, object]:
    state = "delivered" if message.delivered_at else "failed" if message.given_up_at else "pending"
    return {
        "id": message.id,
        "kind": message.kind,
        "state": state,
        "client_id": message.client_id,
        "target_uri": message.target_uri,
        "sid": message.sid,
        "created_at": message.created_at.isoformat(),
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat(),
        "last_error": message.last_error,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
        "given_up_at": message.given_up_at.isoformat() if message.given_up_at else None,
    }
