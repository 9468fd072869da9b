"""Registered clients and users for tests, made through the same code as the CLI."""

from typing import Any

from authserver.clients.models import Client
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.db import Database
from authserver.users.models import User
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

SERVICE_AUDIENCE = "https://orders.example.test"
WEB_APP_REDIRECT_URI = "https://app.example.test/callback"
WEB_APP_LOGOUT_URI = "https://app.example.test/signed-out"


def make_client(database: Database, **overrides: Any) -> tuple[Client, str | None]:
    """A confidential client_credentials client, unless `overrides` say otherwise."""
    fields: dict[str, Any] = {
        "name": "Test service",
        "grant_types": ["client_credentials"],
        "scope": "orders:read orders:write",
        "audiences": [SERVICE_AUDIENCE],
    }
    fields.update(overrides)
    with database.transaction() as session:
        return register_client(ClientRepository(session), ClientSpec(**fields))


def make_user(database: Database, username: str = "alice", password: str = "correct horse") -> User:
    with database.transaction() as session:
        return create_user(UserRepository(session), username, password, f"{username}@example.test")


def make_web_app(database: Database, **overrides: Any) -> tuple[Client, str | None]:
    """A confidential web app using the code flow, with refresh tokens and OIDC scopes."""
    fields: dict[str, Any] = {
        "name": "Web App",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email orders:read",
        "redirect_uris": [WEB_APP_REDIRECT_URI],
        "post_logout_redirect_uris": [WEB_APP_LOGOUT_URI],
        "audiences": [SERVICE_AUDIENCE],
    }
    fields.update(overrides)
    return make_client(database, **fields)
