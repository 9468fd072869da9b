"""`authserver registration-tokens create`: an initial access token (RFC 7591 §3) for
/register while AUTHSERVER_REGISTRATION=protected."""

from datetime import timedelta
from typing import Annotated

import typer

from authserver.audit import record_event
from authserver.cli.context import JsonOption, emit, transaction, warn
from authserver.clock import utcnow
from authserver.registration.tokens import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    MAX_USES,
    issue_initial_access_token,
)
from authserver.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Initial access tokens for /register (RFC 7591).")


@app.command("create")
def create(
    expires_in: Annotated[
        int,
        typer.Option(
            min=1,
            max=int(MAX_LIFETIME.total_seconds()),
            help="Seconds until it expires.",
        ),
    ] = int(DEFAULT_LIFETIME.total_seconds()),
    max_uses: Annotated[
        int, typer.Option(min=1, max=MAX_USES, help="Clients it may register.")
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Print a new initial access token; it is shown only now and stored only as a hash."""
    settings = load_settings()
    if settings.registration != "protected":
        warn(f"AUTHSERVER_REGISTRATION is {settings.registration}: /register does not ask for it")
    with transaction(settings) as session:
        issued = issue_initial_access_token(
            session, utcnow(), timedelta(seconds=expires_in), max_uses
        )
        record_event(
            session,
            "registration_token.created",
            token_id=issued.token_id,
            expires_at=issued.expires_at.isoformat(),
            max_uses=max_uses,
        )
    data = {"initial_access_token": issued.token, "expires_at": issued.expires_at.isoformat()}
    text = (
        f"initial_access_token: {issued.token}\n"
        f"expires_at: {issued.expires_at.isoformat()}  (registers at most {max_uses} "
        f"client{'s' if max_uses > 1 else ''})\n(the token is shown only now; hand it over safely)"
    )
    emit(as_json, data, text)
