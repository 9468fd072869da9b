"""Single sign-on in a real browser: two apps share one sign-in until RP-Initiated Logout.

Debian's chromium (driven by Playwright), a real `authserver serve`, clients and a user
made with the real CLI, redirect URIs on a loopback server of the test's own.
"""

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from authserver.db import Database
from tests.e2e.browser import Navigations, fresh_page, loopback_app
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.flows import Pkce, authorize_path

pytestmark = pytest.mark.e2e

# docs/login-page.png is refreshed only on request, so that a test run leaves the tree clean:
# AUTHSERVER_UPDATE_SCREENSHOT=1 make test
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "login-page.png"
VIEWPORT: ViewportSize = {"width": 1000, "height": 760}
STEP_TIMEOUT_MS = 5_000
HTTP_TIMEOUT_S = 5.0
PASSWORD = "correct horse battery staple"
APPROVE = 'button[name="decision"][value="approve"]'


@dataclass(frozen=True)
class App:
    client_id: str
    client_secret: str | None
    redirect_uri: str


@dataclass(frozen=True)
class Authorization:
    """One authorization request as an app sends it, with the secrets it keeps."""

    app: App
    pkce: Pkce
    state: str
    nonce: str

    def url(self, base_url: str) -> str:
        path = authorize_path(
            self.app.client_id,
            self.pkce,
            redirect_uri=self.app.redirect_uri,
            scope="openid profile email",
            state=self.state,
            nonce=self.nonce,
        )
        return base_url + path


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (its own cookies), every step bounded by STEP_TIMEOUT_MS."""
    with fresh_page(chromium, VIEWPORT, STEP_TIMEOUT_MS) as page:
        yield page


@pytest.fixture
def app_url() -> Iterator[str]:
    with loopback_app() as url:
        yield url


def register_user(environment: dict[str, str]) -> None:
    created = run_cli(
        environment, "users", "create", "--username", "alice", "--email", "alice@example.test",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr


def register_app(environment: dict[str, str], name: str, redirect_uri: str, *extra: str) -> App:
    created = run_cli(
        environment, "clients", "create", "--name", name, "--grant-type", "authorization_code",
        "--redirect-uri", redirect_uri, "--scope", "openid profile email", "--json", *extra,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    return App(client["client_id"], client.get("client_secret"), redirect_uri)


def path_of(url: str) -> str:
    return urlsplit(url).path


def assert_login_form(page: Page) -> None:
    assert path_of(page.url) == "/login", page.url
    assert page.locator('input[name="username"]').count() == 1
    assert page.locator('input[name="password"]').count() == 1
    assert page.locator('button[type="submit"]').count() == 1


def sign_in(page: Page) -> None:
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')


def approve_and_land(page: Page, app: App) -> dict[str, str]:
    """Approve on the consent page; the query the app's redirect_uri receives."""
    page.click(APPROVE)
    return land(page, app.redirect_uri)


def land(page: Page, target: str) -> dict[str, str]:
    page.wait_for_url(lambda url: url.split("?")[0] == target)
    query = parse_qs(urlsplit(page.url).query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values()), page.url
    return {name: values[0] for name, values in query.items()}


def exchange_code(
    discovery: dict[str, Any], authorization: Authorization, code: str
) -> dict[str, Any]:
    app = authorization.app
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": authorization.pkce.verifier,
    }
    if app.client_secret is None:  # a public client names itself; PKCE is its proof
        response = token_request(discovery, {**form, "client_id": app.client_id})
    else:
        response = token_request(discovery, form, (app.client_id, app.client_secret))
    assert response.status_code == 200, response.text
    return response.json()


def token_request(
    discovery: dict[str, Any], form: dict[str, str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    return httpx.post(discovery["token_endpoint"], data=form, auth=auth, timeout=HTTP_TIMEOUT_S)


def userinfo(discovery: dict[str, Any], access_token: str) -> httpx.Response:
    return httpx.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=HTTP_TIMEOUT_S,
    )


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 (RS256) of the token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def verify_id_token(
    discovery: dict[str, Any], authorization: Authorization, tokens: dict[str, Any]
) -> dict[str, Any]:
    """As the app would: the key by `kid` from jwks_uri, RS256 only (OIDC Core §3.1.3.7)."""
    id_token = tokens["id_token"]
    key = jwt.PyJWKClient(discovery["jwks_uri"], timeout=int(HTTP_TIMEOUT_S))
    claims = jwt.decode(
        id_token,
        key.get_signing_key_from_jwt(id_token),
        algorithms=["RS256"],
        audience=authorization.app.client_id,
        issuer=discovery["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce", "at_hash"]},
    )
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    assert claims["nonce"] == authorization.nonce
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    return claims


def refresh(discovery: dict[str, Any], app: App, refresh_token: str) -> httpx.Response:
    assert app.client_secret is not None
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(discovery, form, (app.client_id, app.client_secret))


def logout_url(base_url: str, id_token: str, post_logout_redirect_uri: str) -> str:
    query = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": post_logout_redirect_uri,
        "state": "xyz",
    }
    return f"{base_url}/logout?{urlencode(query)}"


def test_one_sign_in_serves_two_apps_until_logout_ends_it(
    environment: dict[str, str], app_url: str, page: Page, tmp_path: Path
) -> None:
    register_user(environment)
    app_one = register_app(
        environment, "App One", f"{app_url}/callback", "--grant-type", "refresh_token",
        "--post-logout-redirect-uri", f"{app_url}/bye",
    )  # fmt: skip
    app_two = register_app(environment, "App Two", f"{app_url}/app-two/callback", "--public")
    assert app_one.client_secret is not None and app_two.client_secret is None
    one = Authorization(app_one, Pkce(), state="state-one", nonce="nonce-one")
    two = Authorization(app_two, Pkce(), state="state-two", nonce="nonce-two")
    navigations = Navigations(page.context)

    with running_server(environment) as base_url:
        discovery = httpx.get(
            f"{base_url}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_S
        ).json()
        issuer = discovery["issuer"]
        assert issuer == base_url

        # 1. App One: /authorize -> login page -> consent -> App One's redirect_uri.
        page.goto(one.url(base_url))
        assert_login_form(page)
        screenshot = page.screenshot(path=tmp_path / "login-page.png")
        assert screenshot.startswith(b"\x89PNG")
        if os.environ.get("AUTHSERVER_UPDATE_SCREENSHOT"):
            DOCS_SCREENSHOT.write_bytes(screenshot)
        sign_in(page)
        landed = approve_and_land(page, app_one)
        # RFC 6749 §4.1.2 (state echoed), RFC 9207 §2 (iss).
        assert landed.keys() == {"code", "state", "iss"}
        assert landed["state"] == one.state and landed["iss"] == issuer

        # 2. The code for tokens; the id_token checked against the JWKS.
        tokens_one = exchange_code(discovery, one, landed["code"])
        assert {"access_token", "id_token", "refresh_token"} <= tokens_one.keys()
        claims_one = verify_id_token(discovery, one, tokens_one)
        assert userinfo(discovery, tokens_one["access_token"]).status_code == 200
        before_logout = refresh(discovery, app_one, tokens_one["refresh_token"])
        refresh_served = before_logout.json().get("error") != "unsupported_grant_type"
        if refresh_served:
            assert before_logout.status_code == 200, before_logout.text
            tokens_one["refresh_token"] = before_logout.json()["refresh_token"]

        # 3. App Two in the same browser: no login form, consent shown once and approved.
        navigations.urls.clear()
        page.goto(two.url(base_url))
        assert path_of(page.url) == "/authorize", page.url
        assert "App Two" in page.inner_text("h1") and "alice" in page.inner_text("main")
        landed_two = approve_and_land(page, app_two)
        assert not [url for url in navigations.urls if path_of(url) == "/login"]
        assert landed_two["state"] == two.state and landed_two["iss"] == issuer
        tokens_two = exchange_code(discovery, two, landed_two["code"])
        claims_two = verify_id_token(discovery, two, tokens_two)
        assert claims_two["sub"] == claims_one["sub"]
        assert claims_two["auth_time"] == claims_one["auth_time"]  # one sign-in, not two

        # 4. RP-Initiated Logout with App One's id_token: straight to /bye with the state.
        page.goto(logout_url(base_url, tokens_one["id_token"], f"{app_url}/bye"))
        assert land(page, f"{app_url}/bye") == {"state": "xyz"}

        # 5. App One again: the session is gone, so the login form is back.
        page.goto(Authorization(app_one, Pkce(), "state-three", "nonce-three").url(base_url))
        assert_login_form(page)

        # 6. Logout revoked the session's token families: App One's tokens stopped working.
        rejected = userinfo(discovery, tokens_one["access_token"])
        assert rejected.status_code == 401, rejected.text
        if refresh_served:
            after_logout = refresh(discovery, app_one, tokens_one["refresh_token"])
            assert after_logout.status_code == 400, after_logout.text
            assert after_logout.json()["error"] == "invalid_grant"
