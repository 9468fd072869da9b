"""Passkeys in a real browser: a real `authserver serve`, a user made with the real CLI, and
Debian's chromium (under Playwright) with the DevTools virtual authenticator standing in
for a platform authenticator (CTAP2, internal, discoverable credentials, user
verification), one per device.

WebAuthn needs a secure context (WebAuthn L3 §5.1; `http://localhost` is potentially
trustworthy) and an RP ID that is a domain (§5.1.4.1, not an IP address): the issuer is
`http://localhost:PORT`, its RP ID `localhost`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page

from authserver.db import Database
from tests.e2e.processes import cli_environment, free_port, run_cli, running_server

# The pages, driven by a browser: SQLite only. The HTTP tests of the same flows run on
# SQLite and PostgreSQL.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PASSWORD = "correct horse battery staple"
STEP_TIMEOUT_MS = 10_000
# The options of a platform authenticator (DevTools protocol, WebAuthn domain).
PLATFORM_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}
# A browser without conditional mediation. The virtual authenticator answers an autofill
# request at once, as if the user had picked the passkey there; the button is tested in a
# browser that makes none.
NO_CONDITIONAL_UI = """
if (window.PublicKeyCredential) {
  PublicKeyCredential.isConditionalMediationAvailable = async () => false;
}
"""


@dataclass
class Device:
    """A browser of its own (its own cookies) with a passkey authenticator of its own."""

    page: Page
    cdp: CDPSession
    authenticator_id: str

    def credentials(self) -> list[dict[str, Any]]:
        answer = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        return list(answer["credentials"])

    def path(self) -> str:
        return urlsplit(self.page.url).path


@pytest.fixture
def issuer(database: Database, keys_dir: Path) -> Iterator[str]:
    """A running server whose issuer is `http://localhost:PORT`, and the user alice."""
    port = free_port()
    issuer = f"http://localhost:{port}"
    environment = cli_environment(database.url, keys_dir, AUTHSERVER_ISSUER=issuer)
    created = run_cli(
        environment, "users", "create", "--username", "alice", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    with running_server(environment, port=port):
        yield issuer


@pytest.fixture
def new_device(chromium: Browser) -> Iterator[Callable[..., Device]]:
    """Devices, each a browser context with a virtual authenticator of its own."""
    contexts: list[BrowserContext] = []

    def opened(conditional_ui: bool = False) -> Device:
        context = chromium.new_context(viewport={"width": 1024, "height": 800})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        if not conditional_ui:
            context.add_init_script(NO_CONDITIONAL_UI)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR})
        return Device(page, cdp, added["authenticatorId"])

    yield opened
    for context in contexts:
        context.close()


def sign_in_with_password(device: Device, issuer: str) -> None:
    device.page.goto(f"{issuer}/account")
    assert device.path() == "/login"
    device.page.fill('input[name="username"]', "alice")
    device.page.fill('input[name="password"]', PASSWORD)
    device.page.click('button[type="submit"]')


def add_passkey(device: Device, name: str) -> None:
    """On /account: name it, add it; the page reloads with it listed."""
    page = device.page
    page.fill("[data-passkey-name]", name)
    page.click('[data-action="add-passkey"]')
    page.locator(f'[data-passkey="{name}"]').wait_for()


def sign_out(device: Device) -> None:
    device.page.click('[data-current] [data-action="sign-out-session"]')
    device.page.wait_for_url(lambda url: urlsplit(url).path == "/login")


def sign_in_with_passkey(device: Device) -> None:
    """On /login: no username, no password; the button asks the authenticator."""
    device.page.click('[data-action="passkey"]')


def test_passkeys_of_two_devices_sign_in_without_a_password_until_removed(
    issuer: str, new_device: Callable[..., Device]
) -> None:
    """Registration (§7.1) from /account on two devices, a username-less sign-in (§7.2)
    from the login page's button, and a removed passkey that signs in no more."""
    laptop, phone = new_device(), new_device()
    for device in (laptop, phone):
        sign_in_with_password(device, issuer)
        device.page.wait_for_url(f"{issuer}/account")

    add_passkey(laptop, "Laptop")
    add_passkey(phone, "Phone")

    [laptop_credential] = laptop.credentials()
    [phone_credential] = phone.credentials()
    assert laptop_credential["isResidentCredential"] and phone_credential["isResidentCredential"]
    assert laptop_credential["rpId"] == "localhost"
    laptop.page.reload()
    listed = laptop.page.locator("[data-passkey]")
    assert sorted(listed.evaluate_all("items => items.map(i => i.dataset.passkey)")) == [
        "Laptop",
        "Phone",
    ]

    sign_out(laptop)
    assert laptop.page.locator('[data-action="passkey"]').is_visible()
    sign_in_with_passkey(laptop)
    laptop.page.wait_for_url(f"{issuer}/account")
    assert laptop.page.locator("[data-account]").inner_text() == "alice"
    assert laptop.credentials()[0]["signCount"] >= 1

    phone_item = laptop.page.locator('[data-passkey="Phone"]')
    phone_item.locator('[data-action="remove-passkey"]').click()
    laptop.page.wait_for_url(f"{issuer}/account")
    assert laptop.page.locator('[data-passkey="Phone"]').count() == 0
    assert laptop.page.locator('[data-passkey="Laptop"]').count() == 1

    sign_out(phone)
    sign_in_with_passkey(phone)
    error = phone.page.locator("[data-passkey-error]")
    error.wait_for()
    assert "not registered" in error.inner_text()
    phone.page.goto(f"{issuer}/account")
    assert phone.path() == "/login"


def test_a_passkey_is_the_second_step_after_a_password(
    issuer: str, new_device: Callable[..., Device]
) -> None:
    """A user with a passkey is asked for it after the password (§7.2, the user
    identified first): the second step's button, then the account page."""
    laptop = new_device()
    sign_in_with_password(laptop, issuer)
    laptop.page.wait_for_url(f"{issuer}/account")
    add_passkey(laptop, "Laptop")
    sign_out(laptop)

    sign_in_with_password(laptop, issuer)
    laptop.page.wait_for_url(lambda url: urlsplit(url).path == "/login/second-factor")
    laptop.page.click('[data-action="passkey"]')
    laptop.page.wait_for_url(f"{issuer}/account")
    assert laptop.page.locator("[data-account]").inner_text() == "alice"


def test_the_login_page_offers_a_passkey_in_the_username_autofill(
    issuer: str, new_device: Callable[..., Device]
) -> None:
    """Conditional mediation (L3 §5.1.4, `mediation: "conditional"`): the login page asks
    for a passkey as it loads, for the browser to offer in the username field's autofill
    (`autocomplete="username webauthn"`); picking it signs in, no button pressed (the
    virtual authenticator picks at once)."""
    laptop = new_device(conditional_ui=True)
    sign_in_with_password(laptop, issuer)
    laptop.page.wait_for_url(f"{issuer}/account")
    add_passkey(laptop, "Laptop")
    with laptop.page.expect_request(f"{issuer}/passkeys/authentication") as sent:
        sign_out(laptop)
    assert sent.value.post_data_json["purpose"] == "sign-in"
    laptop.page.wait_for_url(f"{issuer}/account")
    assert laptop.page.locator("[data-account]").inner_text() == "alice"
