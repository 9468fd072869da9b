"""`authserver status-lists list`: the Token Status Lists, their fill and revoked counts."""

from datetime import datetime

import typer

from authserver.cli.context import JsonOption, emit, transaction
from authserver.clock import utcnow
from authserver.settings import load_settings
from authserver.statuslists.allocation import list_uri
from authserver.statuslists.repository import summarize_lists

app = typer.Typer(no_args_is_help=True, help="Token Status Lists (docs/revocation.md).")


@app.command("list")
def list_status_lists(as_json: JsonOption = False) -> None:
    """Every list, oldest first: entries handed out, revoked, whether it takes new tokens."""
    issuer, now = load_settings().issuer, utcnow()
    with transaction() as session:
        summaries = summarize_lists(session)
    lists = [
        {
            "id": summary.id,
            "uri": list_uri(issuer, summary.id),
            "size": summary.size,
            "allocated": summary.allocated,
            "revoked": summary.revoked,
            "fill": round(summary.allocated / summary.size, 4),
            "state": _state(summary.allocated, summary.size, summary.open_until, now),
            "created_at": summary.created_at.isoformat(),
            "open_until": summary.open_until.isoformat(),
            "expires_at": summary.expires_at.isoformat(),
        }
        for summary in summaries
    ]
    lines = [
        f"{item['id']}  {item['state']:<6}  {item['allocated']}/{item['size']} allocated "
        f"({item['fill']:.1%}), {item['revoked']} revoked, expires {item['expires_at']}"
        for item in lists
    ]
    emit(as_json, lists, "\n".join(lines) or "no status lists")


def _state(allocated: int, size: int, open_until: datetime, now: datetime) -> str:
    """`open`: takes new blocks; `full` or `closed` (rolled over): serves until it expires."""
    if allocated >= size:
        return "full"
    return "open" if open_until > now else "closed"
