"""The `authserver` command line: thin commands over the domain packages.

Exit codes: 0 success, 2 usage error, 1 any other failure (one line on stderr).
"""

import getpass
import importlib
import os
import socket
import sys

import typer

from authserver.context import RequestContext, enter_context, new_request_id
from authserver.errors import AuthserverError

# Each command's module, imported only when that command runs: a command line pays for
# the domain packages it uses, not for the server's (FastAPI, uvicorn, WebAuthn, ...).
COMMANDS: dict[str, tuple[str, str]] = {  # name: (module, function)
    "serve": ("authserver.cli.serve", "serve"),
    "demo": ("authserver.cli.demo", "demo"),
}
GROUPS: dict[str, str] = {  # name: module with a Typer `app`
    "db": "authserver.cli.db",
    "clients": "authserver.cli.clients",
    "users": "authserver.cli.users",
    "keys": "authserver.cli.keys",
    "audit": "authserver.cli.audit",
    "status-lists": "authserver.cli.status_lists",
    "outbox": "authserver.cli.outbox",
    "registration-tokens": "authserver.cli.registration_tokens",
    "upstreams": "authserver.cli.upstreams",
}
COMMAND_HELP = {"demo": "Ensure the demo client and user exist (development mode)."}


def build_app(only: str | None = None) -> typer.Typer:
    """The command tree; with `only` a known command's name, just that command (the rest
    is never imported). Anything else (`--help`, a typo) gets the whole tree, so help and
    "No such command" read as they always did."""
    wanted = {only} if only in COMMANDS or only in GROUPS else set(COMMANDS) | set(GROUPS)
    tree = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        help="An OAuth 2.0 / OpenID Connect authorization server.",
    )
    tree.callback()(_commands_follow)  # a group even when it holds one command
    for name, (module, function) in COMMANDS.items():
        if name in wanted:
            command = getattr(importlib.import_module(module), function)
            tree.command(name, help=COMMAND_HELP.get(name))(command)
    for name, module in GROUPS.items():
        if name in wanted:
            tree.add_typer(importlib.import_module(module).app, name=name)
    return tree


def _commands_follow() -> None:
    """Without a callback, Typer runs a tree of one command as that command, nameless."""


def __getattr__(name: str) -> typer.Typer:
    """`authserver.cli.app`: the whole tree, for in-process tests (typer's CliRunner)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    if sys.argv[1:2] != ["serve"]:  # a server's requests carry their own context
        enter_context(RequestContext(new_request_id(), actor=_actor()))
    try:
        build_app(sys.argv[1] if len(sys.argv) > 1 else None)()
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
