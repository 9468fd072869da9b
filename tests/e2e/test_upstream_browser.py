"""Sign-in with an upstream provider in a real browser, against a second instance of our
own server acting as the upstream (issue 16): Debian's chromium under Playwright, two
`authserver serve` processes, each configured with the real CLI.

The upstream answers at http://localhost:PORT and this server at http://127.0.0.1:PORT:
cookies are per host, not per port, so on one host the two servers would overwrite
each other's session cookie.
"""

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, Page

from authserver.db import Database
from tests.conftest import copy_of_template_keys, migrated_sqlite
from tests.e2e.browser import fresh_page, loopback_app
from tests.e2e.processes import cli_environment, free_port, run_cli, running_server
from tests.flows import Pkce, authorize_path

# The pages, driven by a browser: SQLite only. The HTTP tests of the same flows run on
# SQLite and PostgreSQL.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PASSWORD = "correct horse battery staple"
STEP_TIMEOUT_MS = 10_000
APPROVE = 'button[name="decision"][value="approve"]'
PASSWORD_FORM_SUBMIT = 'form:has(input[name="password"]) button[type="submit"]'


@dataclass(frozen=True)
class Servers:
    upstream: str
    downstream: str
    downstream_environment: dict[str, str]
    client_id: str
    client_secret: str
    redirect_uri: str


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    with fresh_page(chromium, {"width": 1000, "height": 760}, STEP_TIMEOUT_MS) as page:
        yield page


@pytest.fixture
def servers(
    database: Database, keys_dir: Path, tmp_path: Path, template_keys_dir: Path
) -> Iterator[Servers]:
    upstream_port, downstream_port = free_port(), free_port()
    upstream_url = f"http://localhost:{upstream_port}"
    downstream_url = f"http://127.0.0.1:{downstream_port}"
    upstream_environment = upstream_of(tmp_path, template_keys_dir, upstream_url)
    client = json.loads(cli(upstream_environment, "clients", "create", "--json",
        "--name", "Downstream", "--grant-type", "authorization_code",
        "--redirect-uri", f"{downstream_url}/login/upstream/callback",
        "--scope", "openid profile email"))  # fmt: skip
    downstream_environment = cli_environment(database.url, keys_dir)
    cli(downstream_environment, "upstreams", "add", "--issuer", upstream_url,
        "--client-id", client["client_id"], "--client-secret-stdin",
        "--name", "upstream-id", "--display-name", "Upstream ID",
        stdin=client["client_secret"] + "\n")  # fmt: skip
    with loopback_app() as app_url:
        redirect_uri = f"{app_url}/callback"
        app = json.loads(cli(downstream_environment, "clients", "create", "--json",
            "--name", "Photo app", "--grant-type", "authorization_code",
            "--redirect-uri", redirect_uri, "--scope", "openid profile"))  # fmt: skip
        with (
            running_server(upstream_environment, port=upstream_port),
            running_server(downstream_environment, port=downstream_port),
        ):
            yield Servers(
                upstream_url, downstream_url, downstream_environment,
                app["client_id"], app["client_secret"], redirect_uri,
            )  # fmt: skip


def upstream_of(tmp_path: Path, template_keys: Path, issuer: str) -> dict[str, str]:
    """The upstream's environment: its own database and keys, and erin to sign in."""
    directory = tmp_path / "upstream"
    directory.mkdir()
    migrated_sqlite(directory).dispose()
    environment = cli_environment(
        f"sqlite:///{directory / 'authserver.db'}",
        copy_of_template_keys(template_keys, directory),
        AUTHSERVER_ISSUER=issuer,
    )
    cli(environment, "users", "create", "--username", "erin", "--email", "erin@example.test",
        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    return environment


def cli(environment: dict[str, str], *arguments: str, stdin: str | None = None) -> str:
    result = run_cli(environment, *arguments, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sign_in_through_the_upstream(page: Page, servers: Servers) -> dict[str, Any]:
    """The app sends the browser to /authorize; its person continues with the upstream.
    The app's verified id_token."""
    pkce, nonce = Pkce(), secrets.token_urlsafe(16)
    path = authorize_path(
        servers.client_id, pkce, redirect_uri=servers.redirect_uri, scope="openid profile",
        nonce=nonce,
    )  # fmt: skip
    page.goto(servers.downstream + path)
    assert urlsplit(page.url).path == "/login"
    page.click('[data-upstream="upstream-id"]')
    page.wait_for_url(lambda url: not url.startswith(servers.downstream))
    if urlsplit(page.url).path == "/login":  # not signed in at the upstream yet
        assert page.url.startswith(servers.upstream + "/login")
        page.fill('input[name="username"]', "erin")
        page.fill('input[name="password"]', PASSWORD)
        page.click(PASSWORD_FORM_SUBMIT)
        page.wait_for_load_state()
    approve_consent_if_asked(page, servers.upstream)
    approve_consent_if_asked(page, servers.downstream)
    page.wait_for_url(lambda url: url.startswith(servers.redirect_uri))
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    return verified_id_token(servers, code, pkce, nonce)


def approve_consent_if_asked(page: Page, server: str) -> None:
    page.wait_for_load_state()
    if page.url.startswith(server + "/authorize") and page.locator(APPROVE).count():
        page.click(APPROVE)
        page.wait_for_load_state()


def verified_id_token(servers: Servers, code: str, pkce: Pkce, nonce: str) -> dict[str, Any]:
    """Redeem the code as the app does; the id_token as the app verifies it."""
    response = httpx.post(
        f"{servers.downstream}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": servers.redirect_uri,
            "code_verifier": pkce.verifier,
        },
        auth=(servers.client_id, servers.client_secret),
    )
    assert response.status_code == 200, response.text
    id_token = response.json()["id_token"]
    keys = jwt.PyJWKClient(f"{servers.downstream}/.well-known/jwks.json")
    claims = jwt.decode(
        id_token,
        keys.get_signing_key_from_jwt(id_token),
        algorithms=["RS256"],
        audience=servers.client_id,
        issuer=servers.downstream,
    )
    assert claims["nonce"] == nonce
    return claims


def sign_out(page: Page, servers: Servers) -> None:
    page.goto(f"{servers.downstream}/logout")
    page.click('button[name="decision"][value="logout"]')
    page.wait_for_load_state()
    page.goto(f"{servers.downstream}/login")
    assert page.locator('input[name="password"]').count() == 1  # the sign-in form again


def local_users(servers: Servers) -> list[dict[str, Any]]:
    return json.loads(cli(servers.downstream_environment, "users", "list", "--json"))


def test_a_person_signs_in_with_the_upstream_and_is_the_same_user_the_second_time(
    page: Page, servers: Servers
) -> None:
    first = sign_in_through_the_upstream(page, servers)
    (user,) = local_users(servers)
    assert user["username"] == "erin"
    assert first["sub"] == str(user["id"])
    sign_out(page, servers)
    second = sign_in_through_the_upstream(page, servers)
    assert second["sub"] == first["sub"]
    assert [u["id"] for u in local_users(servers)] == [user["id"]]  # no second user


def test_the_id_token_says_the_sign_in_was_federated(page: Page, servers: Servers) -> None:
    """RFC 8176 `amr`: "fed", federated authentication."""
    claims = sign_in_through_the_upstream(page, servers)
    assert "fed" in claims["amr"]
