"""Fixtures for the resource-service verifier: an in-memory issuer, and a real server.

A live server here runs on its own SQLite file and its own copy of the test keys, so a
module can share one (`live_issuer`) while tests that rotate keys or stop the server
start their own with `start_issuer`.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from authserver.db import Database
from authserver.resource import Verifier
from tests.conftest import copy_of_template_keys, migrated_sqlite
from tests.e2e.processes import cli_environment, running_server
from tests.factories import SERVICE_AUDIENCE, make_client, make_user, make_web_app
from tests.flows import code_flow_tokens
from tests.resource.forge import access_claims, current_signing_key, new_rsa_key
from tests.resource.mock_issuer import AUDIENCE, ISSUER, MockIssuer


@pytest.fixture(scope="session")
def issuer_key() -> RSAKey:
    return new_rsa_key("issuer-key-1")


@pytest.fixture(scope="session")
def attacker_key() -> RSAKey:
    return new_rsa_key()


@pytest.fixture
def mock_issuer(issuer_key: RSAKey) -> MockIssuer:
    return MockIssuer(issuer_key)


@pytest.fixture
def verifier(mock_issuer: MockIssuer) -> Iterator[Verifier]:
    with mock_issuer.client() as http:
        yield Verifier(ISSUER, AUDIENCE, http=http)


class CountingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Real HTTP, sync or async, counting requests by path: how the verifier's fetches are seen."""

    def __init__(self) -> None:
        self._sync = httpx.HTTPTransport()
        self._async = httpx.AsyncHTTPTransport()
        self._lock = threading.Lock()
        self.paths: Counter[str] = Counter()

    @property
    def jwks_fetches(self) -> int:
        return self.paths["/.well-known/jwks.json"]

    def _count(self, request: httpx.Request) -> None:
        with self._lock:
            self.paths[request.url.path] += 1

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._count(request)
        return self._sync.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._count(request)
        return await self._async.handle_async_request(request)

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


@dataclass
class LiveIssuer:
    """A running `authserver serve`, a client_credentials client and a web app with a user."""

    base_url: str
    environment: dict[str, str]
    keys_dir: Path
    database: Database
    client_id: str
    secret: str
    web_app: tuple[str, str]

    def access_token(self, scope: str = "orders:read", resource: str = SERVICE_AUDIENCE) -> str:
        data = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        response = httpx.post(
            f"{self.base_url}/token", data=data, auth=(self.client_id, self.secret)
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def code_flow_tokens(self) -> dict[str, Any]:
        """Tokens for the user through the code flow, the access token for SERVICE_AUDIENCE."""
        client_id, secret = self.web_app
        return code_flow_tokens(
            self.base_url,
            client_id,
            secret,
            scope="openid profile orders:read",
            resource=SERVICE_AUDIENCE,
        )

    def signing_key(self) -> RSAKey:
        return current_signing_key(self.keys_dir)

    def claims(self, **changes: Any) -> dict[str, Any]:
        return access_claims(self.base_url, SERVICE_AUDIENCE, **changes)


@contextmanager
def start_issuer(directory: Path, template_keys_dir: Path, **settings: str) -> Iterator[LiveIssuer]:
    """A fresh database and key store in `directory`, and a server using them."""
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    database = migrated_sqlite(directory)
    client, secret = make_client(database)
    web_app, web_secret = make_web_app(database, skip_consent=True)
    make_user(database)
    assert secret is not None and web_secret is not None
    # Reload the key store on every request, so a rotation is published at once.
    environment = cli_environment(
        database.url, keys_dir, AUTHSERVER_KEYS_RELOAD_INTERVAL="0", **settings
    )
    try:
        with running_server(environment) as base_url:
            yield LiveIssuer(
                base_url,
                environment,
                keys_dir,
                database,
                client.client_id,
                secret,
                (web_app.client_id, web_secret),
            )
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def live_issuer(
    tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path
) -> Iterator[LiveIssuer]:
    with start_issuer(tmp_path_factory.mktemp("issuer"), template_keys_dir) as issuer:
        yield issuer


MakeVerifier = Callable[..., tuple[Verifier, CountingTransport]]


@pytest.fixture
def make_verifier() -> Iterator[MakeVerifier]:
    """`make_verifier(issuer, **options)`: a verifier of a live issuer for SERVICE_AUDIENCE,
    and the transport counting its requests; its HTTP client is closed after the test."""
    with ExitStack() as stack:

        def make(issuer: LiveIssuer, **options: Any) -> tuple[Verifier, CountingTransport]:
            transport = CountingTransport()
            http = stack.enter_context(httpx.Client(transport=transport, timeout=5))
            return Verifier(issuer.base_url, SERVICE_AUDIENCE, http=http, **options), transport

        yield make
