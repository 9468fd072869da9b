"""Strong sign-in in a real browser (issue 16): TOTP enrolment read off the page, sign-in
with a code, a replayed code and a reused recovery code refused, AUTHSERVER_MFA=required
leading a user through enrolment before any code reaches the app, and the account page
ending sessions and an app's access. Every new page is checked on a 375-px-wide screen
(nothing wider than the screen) and driven by keyboard where a person would.

Debian's chromium under Playwright; a real `authserver serve`; users and clients made
with the real CLI; tokens checked with PyJWT's PyJWKClient.
"""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pyotp
import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from authserver.db import Database
from tests.e2e.browser import Navigations, fresh_page, loopback_app
from tests.e2e.processes import cli_environment, free_port, run_cli, running_server
from tests.flows import Pkce, authorize_path

# The pages, driven by a browser: SQLite only. The HTTP tests of the same flows run on
# SQLite and PostgreSQL.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PHONE: ViewportSize = {"width": 375, "height": 740}
STEP_TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery staple"
APPROVE = 'button[name="decision"][value="approve"]'
# docs/screens/*.png are refreshed only on request: AUTHSERVER_UPDATE_SCREENSHOT=1 make test
DOCS_SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


@pytest.fixture
def app_url() -> Iterator[str]:
    with loopback_app() as url:
        yield url


def create_user(environment: dict[str, str], username: str = "alice") -> None:
    created = run_cli(
        environment, "users", "create", "--username", username, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr


def create_app(environment: dict[str, str], redirect_uri: str, *extra: str) -> tuple[str, str]:
    created = run_cli(
        environment, "clients", "create", "--name", "Photo App", "--grant-type",
        "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", redirect_uri,
        "--scope", "openid profile", "--json", *extra,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    return client["client_id"], client["client_secret"]


def fits_the_screen(page: Page, name: str) -> None:
    """Readable on a phone: nothing wider than the 375-px viewport; a screenshot taken."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (name, width)
    shot = page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("AUTHSERVER_UPDATE_SCREENSHOT"):
        DOCS_SCREENS.mkdir(exist_ok=True)
        (DOCS_SCREENS / f"{name}.png").write_bytes(shot)


def password_step(page: Page, base_url: str, username: str = "alice") -> None:
    if urlsplit(page.url).path != "/login":
        page.goto(base_url + "/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    with page.expect_navigation():
        page.press('input[name="password"]', "Enter")


def type_code(page: Page, code: str) -> None:
    """The second step by keyboard: the code input has the focus; Enter submits."""
    assert page.evaluate("document.activeElement.name") == "code"
    page.keyboard.type(code)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def enrol_from_the_page(page: Page) -> tuple[str, list[str]]:
    """On the enrolment page: read the key as a person would, type the app's code."""
    secret = page.inner_text("[data-totp-secret]").strip()
    fits_the_screen(page, "totp-enrolment")
    type_code(page, pyotp.TOTP(secret).now())
    codes = [code.strip() for code in page.locator("[data-recovery-code]").all_inner_texts()]
    fits_the_screen(page, "recovery-codes")
    return secret, codes


def tokens_for(
    base_url: str, client: tuple[str, str], code: str, pkce: Pkce, redirect: str
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": pkce.verifier,
    }
    response = httpx.post(f"{base_url}/token", data=form, auth=client, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def verified(base_url: str, client_id: str, id_token: str) -> dict[str, Any]:
    keys = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json", timeout=5)
    return jwt.decode(
        id_token,
        keys.get_signing_key_from_jwt(id_token),
        algorithms=["RS256"],
        audience=client_id,
        issuer=base_url,
    )


def refresh(base_url: str, client: tuple[str, str], refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return httpx.post(f"{base_url}/token", data=form, auth=client, timeout=5)


def authorize_in(
    page: Page, base_url: str, client: tuple[str, str], redirect: str
) -> dict[str, Any]:
    """The app's code flow in this (signed-in or not) page, consenting if asked; tokens."""
    pkce = Pkce()
    page.goto(base_url + authorize_path(client[0], pkce, redirect_uri=redirect))
    if urlsplit(page.url).path == "/login":
        password_step(page, base_url)
    if page.locator(APPROVE).count():
        page.click(APPROVE)
    page.wait_for_url(lambda url: url.startswith(redirect))
    code = dict(part.split("=", 1) for part in urlsplit(page.url).query.split("&"))["code"]
    return tokens_for(base_url, client, code, pkce, redirect)


def test_totp_enrolled_on_the_account_page_then_password_and_code(
    chromium: Browser, environment: dict[str, str]
) -> None:
    create_user(environment)
    with running_server(environment) as base_url:
        with fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page:
            password_step(page, base_url)
            page.goto(base_url + "/account")
            fits_the_screen(page, "account")
            page.click('[data-action="enrol-totp"]')
            secret, codes = enrol_from_the_page(page)
            assert len(codes) == 10
            page.click('[data-action="continue"]')
            assert urlsplit(page.url).path == "/account"
            assert "On" in page.inner_text('[data-factor="totp"]')

        with fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page:
            password_step(page, base_url)
            assert urlsplit(page.url).path == "/login/second-factor"
            fits_the_screen(page, "second-factor")
            # RFC 6238 §5.2: the enrolment used this step's code; the next step's works once.
            next_code = pyotp.TOTP(secret).at(time.time() + 30)
            type_code(page, next_code)
            assert urlsplit(page.url).path == "/login"
            assert page.locator('[data-action="enrol-totp"]').count() == 0

        with fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page:
            password_step(page, base_url)
            type_code(page, next_code)  # replayed
            assert urlsplit(page.url).path == "/login/second-factor"
            assert "used already" in page.inner_text('[role="alert"]')
            page.fill('input[name="code"]', codes[0])
            with page.expect_navigation():
                page.press('input[name="code"]', "Enter")
            assert urlsplit(page.url).path == "/login"

        with fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page:
            password_step(page, base_url)
            type_code(page, codes[0])  # a recovery code works once
            assert urlsplit(page.url).path == "/login/second-factor"


def test_mfa_required_enrols_a_user_before_the_app_gets_a_code(
    chromium: Browser, environment: dict[str, str], app_url: str
) -> None:
    create_user(environment)
    redirect = f"{app_url}/callback"
    client = create_app(environment, redirect)
    required = {**environment, "AUTHSERVER_MFA": "required"}
    with (
        running_server(required) as base_url,
        fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page,
    ):
        navigations = Navigations(page.context)
        pkce = Pkce()
        page.goto(base_url + authorize_path(client[0], pkce, redirect_uri=redirect))
        password_step(page, base_url)
        assert urlsplit(page.url).path == "/account/totp"
        assert not [url for url in navigations.urls if url.startswith(redirect)]
        _, codes = enrol_from_the_page(page)
        assert len(codes) == 10
        page.click('[data-action="continue"]')
        page.click(APPROVE)
        page.wait_for_url(lambda url: url.startswith(redirect))
        code = dict(p.split("=", 1) for p in urlsplit(page.url).query.split("&"))["code"]
        tokens = tokens_for(base_url, client, code, pkce, redirect)
        assert [url for url in navigations.urls if url.startswith(redirect)] == [page.url]
        claims = verified(base_url, client[0], tokens["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_the_account_page_signs_out_everywhere_and_revokes_an_apps_access(
    chromium: Browser, environment: dict[str, str], app_url: str
) -> None:
    create_user(environment)
    redirect = f"{app_url}/callback"
    client = create_app(environment, redirect)
    with (
        running_server(environment) as base_url,
        fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as mine,
        fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as theirs,
    ):
        first = authorize_in(mine, base_url, client, redirect)
        other = authorize_in(theirs, base_url, client, redirect)
        # A password sign-in: amr names the password alone (RFC 8176).
        assert verified(base_url, client[0], first["id_token"])["amr"] == ["pwd"]
        mine.goto(base_url + "/account")
        assert mine.locator("[data-session]").count() == 2
        assert mine.locator("[data-session][data-current]").count() == 1
        # By keyboard: Tab to "Sign out everywhere", Enter.
        for _ in range(80):
            mine.keyboard.press("Tab")
            if mine.evaluate("document.activeElement.dataset.action") == "sign-out-everywhere":
                break
        else:
            pytest.fail("Sign out everywhere cannot be reached with Tab")
        mine.keyboard.press("Enter")
        mine.wait_for_url(lambda url: urlsplit(url).path == "/login")
        for grant in (first, other):
            refused = refresh(base_url, client, grant["refresh_token"])
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        theirs.goto(base_url + "/account")
        assert urlsplit(theirs.url).path == "/login"

        again = authorize_in(mine, base_url, client, redirect)
        rotated = refresh(base_url, client, again["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        mine.goto(base_url + "/account")
        app = mine.locator(f'[data-app="{client[0]}"]')
        app.locator('[data-action="revoke-access"]').click()
        mine.wait_for_load_state()
        assert mine.locator(f'[data-app="{client[0]}"]').count() == 0
        revoked = refresh(base_url, client, rotated.json()["refresh_token"])
        assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_the_login_page_offers_every_way_in_on_a_phone_and_by_keyboard(
    chromium: Browser, environment: dict[str, str]
) -> None:
    """Password, passkey and an upstream provider, on a 375-px screen; the keyboard goes
    username → password → Sign in. At http://localhost: passkeys need a domain name."""
    port = free_port()
    issuer = f"http://localhost:{port}"
    upstream = {
        "AUTHSERVER_ISSUER": issuer,
        "AUTHSERVER_UPSTREAM_ISSUER": "https://id.example.test",
        "AUTHSERVER_UPSTREAM_CLIENT_ID": "authserver",
        "AUTHSERVER_UPSTREAM_DISPLAY_NAME": "Example ID",
    }
    with (
        running_server({**environment, **upstream}, port=port),
        fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page,
    ):
        page.goto(issuer + "/login")
        page.locator('[data-action="passkey"]').wait_for(state="visible")
        assert page.inner_text("[data-upstream]") == "Continue with Example ID"
        assert page.locator('[role="alert"]:visible').count() == 0
        fits_the_screen(page, "login")
        assert page.evaluate("document.activeElement.name") == "username"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "password"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent").strip() == "Sign in"
