"""The `authserver` command line: thin commands over the domain packages.

Exit codes: 0 success, 2 usage error, 1 any other failure (one line on stderr).
"""

import getpass
import os
import socket
import sys

import typer

from authserver.cli import (
    audit,
    clients,
    db,
    demo,
    keys,
    outbox,
    registration_tokens,
    serve,
    status_lists,
    upstreams,
    users,
)
from authserver.context import RequestContext, enter_context, new_request_id
from authserver.errors import AuthserverError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="An OAuth 2.0 / OpenID Connect authorization server.",
)
app.command("serve")(serve.serve)
app.command("demo", help="Ensure the demo client and user exist (development mode).")(demo.demo)
app.add_typer(db.app, name="db")
app.add_typer(clients.app, name="clients")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(status_lists.app, name="status-lists")
app.add_typer(outbox.app, name="outbox")
app.add_typer(registration_tokens.app, name="registration-tokens")
app.add_typer(upstreams.app, name="upstreams")


def main() -> None:
    if sys.argv[1:2] != ["serve"]:  # a server's requests carry their own context
        enter_context(RequestContext(new_request_id(), actor=_actor()))
    try:
        app()
    except AuthserverError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        first_line = (str(error).splitlines() or [""])[0]
        _fail(f"unexpected {type(error).__name__}: {first_line}")


def _actor() -> str:
    """Who runs the command, for the audit log: `cli:<login>@<host>`."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = str(os.getuid())
    return f"cli:{login}@{socket.gethostname()}"[:200]


def _fail(message: str) -> None:
    print(f"authserver: {message}", file=sys.stderr)
    sys.exit(1)
