"""`authserver demo`: the demo client and user that `make run` starts with."""

import secrets

import typer

from authserver.cli.context import transaction
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.errors import ConfigurationError
from authserver.settings import load_settings
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

DEMO_CLIENT_ID = "demo-client"
DEMO_USERNAME = "demo"
DEMO_SCOPE = "demo:read demo:write"


def demo() -> None:
    """Create the demo client and user if missing, printing their credentials once."""
    settings = load_settings()
    if not settings.development:
        raise ConfigurationError(
            "the demo client and user exist only with AUTHSERVER_MODE=development"
        )
    with transaction(settings) as session:
        clients = ClientRepository(session)
        secret = None
        if clients.get(DEMO_CLIENT_ID) is None:
            spec = ClientSpec(
                name="Demo client",
                grant_types=["client_credentials"],
                scope=DEMO_SCOPE,
                client_id=DEMO_CLIENT_ID,
            )
            _, secret = register_client(clients, spec)
        users = UserRepository(session)
        password = None
        if users.find_by_username(DEMO_USERNAME) is None:
            password = secrets.token_urlsafe(12)
            create_user(users, DEMO_USERNAME, password, "demo@example.com")
    typer.echo(_instructions(settings.issuer, secret, password))


def _instructions(issuer: str, secret: str | None, password: str | None) -> str:
    shown = secret or "<the secret printed when it was created>"
    lines = ["", "Demo client and user (development mode)", ""]
    lines.append(f"  client_id:     {DEMO_CLIENT_ID}")
    lines.append(f"  client_secret: {shown}")
    lines.append(f"  user:          {DEMO_USERNAME} / {password or '<printed when created>'}")
    if secret is None:
        lines.append(
            f"  (shown once; for a new secret: authserver clients delete {DEMO_CLIENT_ID}, "
            "then make run)"
        )
    lines += [
        "",
        "Try it once the server is up:",
        f"  curl -s -u '{DEMO_CLIENT_ID}:{shown}' -d grant_type=client_credentials \\",
        f"       -d scope=demo:read {issuer}/token",
        f"  curl -s {issuer}/.well-known/openid-configuration",
        f"  curl -s {issuer}/.well-known/jwks.json",
        "",
    ]
    return "\n".join(lines)
