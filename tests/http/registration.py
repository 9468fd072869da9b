"""Helpers for the dynamic registration tests (RFC 7591, RFC 7592): apps in each
AUTHSERVER_REGISTRATION mode, initial access tokens, registration requests."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.registration.tokens import issue_initial_access_token
from tests.conftest import ISSUER, make_settings
from tests.factories import WEB_APP_REDIRECT_URI

# What an OpenID Connect web app (an Authlib client, say) registers with.
WEB_APP_METADATA: dict[str, Any] = {
    "client_name": "Notes",
    "redirect_uris": [WEB_APP_REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid profile email",
    "client_uri": "https://notes.example.test",
    "logo_uri": "https://notes.example.test/logo.png",
    "contacts": ["ops@notes.example.test"],
    "post_logout_redirect_uris": ["https://app.example.test/signed-out"],
    "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    "software_version": "2.1",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def initial_access_token(
    database: Database,
    *,
    lifetime: timedelta = timedelta(hours=1),
    max_uses: int = 1,
    now: datetime | None = None,
) -> str:
    with database.transaction() as session:
        issued = issue_initial_access_token(session, now or utcnow(), lifetime, max_uses)
    return issued.token


def register(http: TestClient, token: str | None, metadata: dict[str, Any]) -> Response:
    return http.post("/register", json=metadata, headers=bearer(token) if token else None)


@contextmanager
def app_with(database: Database, keys_dir: Path, **settings: object) -> Iterator[TestClient]:
    values: dict[str, object] = {"client_cache_ttl": 0, **settings}
    app = create_app(make_settings(database_url=database.url, keys_dir=keys_dir, **values))
    with TestClient(app, base_url=ISSUER) as http:
        yield http
