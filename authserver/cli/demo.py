"""`authserver demo`: the demo client and user that `make run` starts with."""

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import typer

from authserver.cli.context import transaction
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.errors import ConfigurationError
from authserver.settings import Settings, load_settings
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

DEMO_CLIENT_ID = "demo-client"
DEMO_APP_ID = "demo-app"
DEMO_APP_REDIRECT_URI = "http://127.0.0.1:8080/callback"
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
        if clients.get(DEMO_APP_ID) is None:
            # A public client (a single-page or native app): PKCE, no secret.
            app = ClientSpec(
                name="Demo app",
                grant_types=["authorization_code", "refresh_token"],
                scope="openid profile email demo:read",
                redirect_uris=[DEMO_APP_REDIRECT_URI],
                public=True,
                client_id=DEMO_APP_ID,
            )
            register_client(clients, app)
        users = UserRepository(session)
        password = None
        if users.find_by_username(DEMO_USERNAME) is None:
            password = secrets.token_urlsafe(12)
            hashing = settings.password_hashing()
            create_user(users, DEMO_USERNAME, password, "demo@example.com", hashing)
    typer.echo(_instructions(settings, secret, password))


def _instructions(settings: Settings, secret: str | None, password: str | None) -> str:
    issuer = settings.issuer
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
        *_sign_in_instructions(issuer, int(settings.authorization_code_ttl.total_seconds())),
    ]
    return "\n".join(lines)


def _sign_in_instructions(issuer: str, code_ttl: int) -> list[str]:
    """The code flow by hand: a browser for the sign-in, curl for the token."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": DEMO_APP_ID,
            "redirect_uri": DEMO_APP_REDIRECT_URI,
            "scope": "openid profile email",
            "state": "demo",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return [
        "Sign in as the demo user (authorization code + PKCE, the public client demo-app):",
        "  1. open in a browser:",
        f"     {issuer}/authorize?{query}",
        f"  2. sign in, allow; the browser lands on {DEMO_APP_REDIRECT_URI}?code=...",
        "     (nothing listens there: copy the code from the address bar)",
        f"  3. exchange the code within {code_ttl} seconds:",
        f"     curl -s -d grant_type=authorization_code -d client_id={DEMO_APP_ID} \\",
        f"          -d redirect_uri={DEMO_APP_REDIRECT_URI} -d code_verifier={verifier} \\",
        f"          -d code=PASTE_THE_CODE {issuer}/token",
        "",
    ]
