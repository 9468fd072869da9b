"""The Device Authorization Grant (RFC 8628) end to end: a real `authserver serve`, a
device client made with the real CLI, a CLI-like client polling the token endpoint in a
thread of its own (honouring `interval` and `slow_down`, §3.5), and Debian's chromium
(under Playwright) approving or denying on the /device page (§3.3). The access token
is verified as a resource service would, with PyJWT's `PyJWKClient`.
"""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, Page

from authserver.clients.models import DEVICE_CODE
from authserver.db import Database
from tests.e2e.browser import fresh_page
from tests.e2e.processes import cli_environment, run_cli, running_server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
STEP_TIMEOUT_MS = 10_000
POLL_DEADLINE_S = 60.0


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A phone-sized page: the /device page is opened on one."""
    with fresh_page(chromium, {"width": 375, "height": 740}, STEP_TIMEOUT_MS) as page:
        yield page


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    # One second between polls keeps the test short; slow_down still adds 5 s.
    return cli_environment(database.url, keys_dir, AUTHSERVER_DEVICE_CODE_INTERVAL="1")


@pytest.fixture
def device_client(environment: dict[str, str]) -> str:
    """`clients create` with the grant's short name; the stored name is the RFC's."""
    created = run_cli(
        environment, "clients", "create", "--name", "Living-room TV",
        "--grant-type", "device_code", "--grant-type", "refresh_token",
        "--scope", "openid profile", "--public", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    assert client["grant_types"] == [DEVICE_CODE, "refresh_token"]
    assert client["public"] is True and client["client_secret"] is None
    user = run_cli(
        environment, "users", "create", "--username", "alice", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    return str(client["client_id"])


@dataclass
class PollingDevice:
    """What a TV's CLI does: ask for codes, show them, poll until an answer (§3.4-3.5)."""

    base_url: str
    client_id: str
    codes: dict[str, Any] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    tokens: dict[str, Any] | None = None
    error: str | None = None

    def start(self) -> dict[str, Any]:
        discovery = httpx.get(f"{self.base_url}/.well-known/openid-configuration").json()
        response = httpx.post(
            discovery["device_authorization_endpoint"],
            data={"client_id": self.client_id, "scope": "openid profile"},
        )
        assert response.status_code == 200, response.text
        self.codes = response.json()
        self.token_endpoint = discovery["token_endpoint"]
        return self.codes

    def poll(self) -> None:
        interval = self.codes["interval"]
        deadline = time.monotonic() + POLL_DEADLINE_S
        while time.monotonic() < deadline:
            response = httpx.post(
                self.token_endpoint,
                data={
                    "grant_type": DEVICE_CODE,
                    "device_code": self.codes["device_code"],
                    "client_id": self.client_id,
                },
            )
            if response.status_code == 200:
                self.tokens = response.json()
                return
            error = response.json()["error"]
            self.answers.append(error)
            if error == "slow_down":
                interval += 5  # RFC 8628 §3.5
            elif error != "authorization_pending":
                self.error = error
                return
            time.sleep(interval)
        self.error = "timed out"


def polling_in_background(base_url: str, client_id: str) -> tuple[PollingDevice, threading.Thread]:
    """A device that asked for its codes and now polls in a thread of its own."""
    device = PollingDevice(base_url, client_id)
    device.start()
    thread = threading.Thread(target=device.poll, daemon=True)
    thread.start()
    return device, thread


def sign_in_and_answer(page: Page, device: PollingDevice, decision: str) -> None:
    """The user opens verification_uri_complete, signs in, checks the code, answers."""
    page.goto(device.codes["verification_uri_complete"])
    assert urlsplit(page.url).path == "/login"
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(lambda url: urlsplit(url).path == "/device")
    assert page.locator("[data-user-code]").inner_text() == device.codes["user_code"]
    assert "Living-room TV" in page.locator("h1").inner_text()
    # Readable on a phone: nothing wider than the 375-px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click(f'button[name="decision"][value="{decision}"]')
    page.wait_for_load_state()


def test_a_device_polls_while_the_user_approves_in_a_browser(
    environment: dict[str, str], device_client: str, page: Page
) -> None:
    with running_server(environment) as base_url:
        device, poller = polling_in_background(base_url, device_client)
        time.sleep(1.5)  # a poll or two while nobody has answered yet
        sign_in_and_answer(page, device, "approve")
        assert "Device connected" in page.content()
        poller.join(timeout=POLL_DEADLINE_S)
        assert device.error is None, device.answers
        assert device.tokens is not None
        assert "authorization_pending" in device.answers
        access_token = device.tokens["access_token"]
        keys = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json")
        claims = jwt.decode(
            access_token,
            keys.get_signing_key_from_jwt(access_token),
            algorithms=["RS256"],
            audience=base_url,
            issuer=base_url,
        )
        assert claims["client_id"] == device_client
        assert claims["scope"] == "openid profile"
        userinfo = httpx.get(
            f"{base_url}/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        assert userinfo.status_code == 200
        assert userinfo.json()["preferred_username"] == "alice"
        assert "refresh_token" in device.tokens


def test_a_device_the_user_denies_is_told_access_denied(
    environment: dict[str, str], device_client: str, page: Page
) -> None:
    with running_server(environment) as base_url:
        device, poller = polling_in_background(base_url, device_client)
        sign_in_and_answer(page, device, "deny")
        assert "Access denied" in page.content()
        poller.join(timeout=POLL_DEADLINE_S)
        assert device.tokens is None
        assert device.error == "access_denied", device.answers


def test_polling_too_fast_is_told_to_slow_down(
    environment: dict[str, str], device_client: str
) -> None:
    """RFC 8628 §3.5: a device that ignores `interval` gets `slow_down`."""
    with running_server(environment) as base_url:
        device = PollingDevice(base_url, device_client)
        codes = device.start()
        form = {"grant_type": DEVICE_CODE, "device_code": codes["device_code"]}
        answers = [
            httpx.post(device.token_endpoint, data={**form, "client_id": device_client}).json()
            for _ in range(3)
        ]
    assert [a["error"] for a in answers] == ["authorization_pending", "slow_down", "slow_down"]
