"""The `authserver` command line: thin commands over the domain packages.

Exit codes: 0 success, 2 usage error, 1 any other failure (one line on stderr).
"""

import sys

import typer

from authserver.cli import clients, db, demo, keys, serve, users
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


def main() -> None:
    try:
        app()
    except AuthserverError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        first_line = (str(error).splitlines() or [""])[0]
        _fail(f"unexpected {type(error).__name__}: {first_line}")


def _fail(message: str) -> None:
    print(f"authserver: {message}", file=sys.stderr)
    sys.exit(1)
