"""Passkeys through HTTP (WebAuthn Level 3, https://www.w3.org/TR/webauthn-3/): registration
(§7.1), a username-less sign-in and a second factor (§7.2), and removal, on SQLite and
PostgreSQL. The authenticator is software written here: an EC P-256 key (COSE ES256,
§6.5.1) whose responses are built byte by byte as the spec lays them out (client data
§5.8.1, authenticator data §6.1, attestation `none` §8.7, assertion signature §6.3.3).
"""

import hashlib
import json
import re
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update
from sqlmodel import col, select
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

from authserver.audit.models import AuditEvent
from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.models import LoginSession
from authserver.login.repository import SessionRepository
from authserver.opaque import opaque_hash
from authserver.passkeys.challenges import purge_challenges
from authserver.passkeys.models import Passkey, WebAuthnChallenge
from authserver.settings import Settings
from authserver.users.models import User
from tests.conftest import make_settings
from tests.factories import make_user
from tests.flows import csrf_token_of, sign_in
from tests.http.pages import csp_directives, script_sources

# Browsers allow passkeys on localhost (a secure context with a domain name), not on an
# IP address: these tests' server is http://localhost:8000 (relying_party.passkeys_possible).
ISSUER = "http://localhost:8000"
RP_ID = "localhost"  # the issuer's host
ORIGIN = ISSUER
USER_PRESENT, USER_VERIFIED, BACKUP_ELIGIBLE, BACKED_UP, ATTESTED = 0x01, 0x04, 0x08, 0x10, 0x40
_SECTION_TOKEN = re.compile(r'data-purpose="([a-z-]+)" data-csrf-token="([^"]+)"')
_REGISTRATION_TOKEN = re.compile(r'data-passkey-registration data-csrf-token="([^"]+)"')


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


@dataclass
class Authenticator:
    """One discoverable ES256 credential, answering as `navigator.credentials` would."""

    origin: str = ORIGIN
    rp_id: str = RP_ID
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes | None = None
    sign_count: int = 0
    counting: bool = True  # False: a synced passkey, its counter always 0
    backed_up: bool = False
    verifies_user: bool = True

    def create(self, options: dict[str, Any], **overrides: str) -> dict[str, Any]:
        """§5.1.3 create() with attestation `none` (§8.7): the authenticator data carries
        the attested credential data (§6.5.1), the new public key as a COSE_Key."""
        assert options["rp"]["id"] == self.rp_id
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        client_data = self.client_data("webauthn.create", options["challenge"], **overrides)
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + encode_cbor(self.cose_key())
        )
        authenticator_data = self.authenticator_data(ATTESTED, **overrides) + attested
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": authenticator_data})
        response = {
            "clientDataJSON": b64(client_data),
            "attestationObject": b64(attestation),
            "transports": ["internal"],
        }
        return self.credential(response)

    def get(self, options: dict[str, Any], **overrides: str) -> dict[str, Any]:
        """§5.1.4 get(): the signature (§6.3.3) is over authenticatorData || SHA-256 of
        clientDataJSON; the user handle identifies the account (§5.4.3)."""
        if self.counting:
            self.sign_count += 1
        client_data = self.client_data("webauthn.get", options["challenge"], **overrides)
        authenticator_data = self.authenticator_data(0, **overrides)
        signed = authenticator_data + hashlib.sha256(client_data).digest()
        response = {
            "clientDataJSON": b64(client_data),
            "authenticatorData": b64(authenticator_data),
            "signature": b64(self.key.sign(signed, ec.ECDSA(hashes.SHA256()))),
            "userHandle": b64(self.user_handle or b""),
        }
        return self.credential(response)

    def client_data(self, kind: str, challenge: str, origin: str = "", **_: str) -> bytes:
        """§5.8.1 CollectedClientData, serialized as §5.8.1.1 does."""
        value = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**value, "crossOrigin": False}, separators=(",", ":")).encode()

    def authenticator_data(self, flags: int, rp_id: str = "", **_: str) -> bytes:
        """§6.1: rpIdHash (32), flags (1), signCount (4, big-endian)."""
        flags |= USER_PRESENT | (USER_VERIFIED if self.verifies_user else 0)
        if self.backed_up:
            flags |= BACKUP_ELIGIBLE | BACKED_UP
        rp_id_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.sign_count)

    def cose_key(self) -> dict[int, Any]:
        """RFC 9053 §7.1.1: kty EC2, alg ES256, crv P-256, x, y."""
        numbers = self.key.public_key().public_numbers()
        return {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }

    def credential(self, response: dict[str, str | list[str]]) -> dict[str, Any]:
        """§5.1.8 PublicKeyCredential.toJSON()."""
        identifier = b64(self.credential_id)
        return {
            "id": identifier,
            "rawId": identifier,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }


# --- a browser's steps -----------------------------------------------------------------


@pytest.fixture
def settings(database: Database, keys_dir: Path) -> Settings:
    return make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, issuer=ISSUER
    )


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=ISSUER) as client:
        yield client


@pytest.fixture
def new_browser(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Browsers of their own (their own cookies) on the same server."""
    browsers: list[TestClient] = []

    def opened() -> TestClient:
        browser = TestClient(app, base_url=ISSUER)
        browsers.append(browser.__enter__())
        return browser

    yield opened
    for browser in browsers:
        browser.__exit__(None, None, None)


def post_json(http: TestClient, path: str, token: str | None, body: object) -> Response:
    headers = {"X-CSRF-Token": token} if token is not None else {}
    return http.post(path, json=body, headers=headers)


def account_token(http: TestClient) -> str:
    page = http.get("/account")
    assert page.status_code == 200, page.text
    found = _REGISTRATION_TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


def page_token(http: TestClient, path: str, purpose: str) -> str:
    """The CSRF token of the page's passkey section for `purpose`."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    tokens = dict(_SECTION_TOKEN.findall(page.text))
    assert purpose in tokens, page.text
    return tokens[purpose]


def registration_options(http: TestClient) -> tuple[str, dict[str, Any]]:
    token = account_token(http)
    options = post_json(http, "/passkeys/registration/options", token, {})
    assert options.status_code == 200, options.text
    return token, options.json()


def register(
    http: TestClient, authenticator: Authenticator, name: str = "Laptop", **overrides: str
) -> Response:
    token, options = registration_options(http)
    credential = authenticator.create(options, **overrides)
    return post_json(
        http, "/passkeys/registration", token, {"name": name, "credential": credential}
    )


def sign_in_options(http: TestClient, purpose: str = "sign-in") -> tuple[str, dict[str, Any]]:
    path = "/login" if purpose == "sign-in" else "/login/second-factor"
    token = page_token(http, path, purpose)
    options = post_json(http, "/passkeys/authentication/options", token, {"purpose": purpose})
    assert options.status_code == 200, options.text
    return token, options.json()


def answer(
    http: TestClient, token: str | None, credential: dict[str, Any], purpose: str = "sign-in"
) -> Response:
    body = {"purpose": purpose, "credential": credential, "next": "/account"}
    return post_json(http, "/passkeys/authentication", token, body)


def sign_in_with(
    http: TestClient, authenticator: Authenticator, purpose: str = "sign-in", **overrides: str
) -> Response:
    token, options = sign_in_options(http, purpose)
    return answer(http, token, authenticator.get(options, **overrides), purpose)


def session_of(http: TestClient, database: Database) -> LoginSession | None:
    cookie = http.cookies.get("authserver_session")
    with database.transaction() as db:
        return SessionRepository(db).find_by_secret_hash(opaque_hash(cookie)) if cookie else None


def passkeys_in(database: Database) -> list[Passkey]:
    with database.transaction() as db:
        return list(db.exec(select(Passkey)).all())


def events(database: Database, name: str) -> list[dict[str, Any]]:
    with database.transaction() as db:
        rows = db.exec(select(AuditEvent).where(col(AuditEvent.event) == name)).all()
        return [{"user_id": row.user_id, **json.loads(row.details)} for row in rows]


EXPIRED = "expired or was used already"


def assert_refused(response: Response, error: str = "access_denied", saying: str = "") -> None:
    """400 with the error JSON (never a 500, never a session)."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error, response.text
    assert saying in response.json()["error_description"]
    assert "authserver_session" not in response.headers.get("set-cookie", "")


@pytest.fixture
def alice(database: Database) -> User:
    return make_user(database, "alice")


@pytest.fixture
def passkey(http: TestClient, alice: User) -> Authenticator:
    """Alice's passkey, registered from her account page (she stays signed in)."""
    assert sign_in(http, "alice").status_code == 303
    authenticator = Authenticator()
    registered = register(http, authenticator)
    assert registered.status_code == 200, registered.text
    return authenticator


# --- registration (§7.1) ---------------------------------------------------------------


def test_a_signed_in_user_registers_a_discoverable_passkey(
    http: TestClient, database: Database, alice: User
) -> None:
    """§5.4: the options name the RP (the issuer's host), the user by an opaque handle,
    a discoverable credential (§5.4.6 residentKey), ES256 among the algorithms, attestation
    `none`; the stored passkey has its name, key, counter and creation date, audited."""
    assert sign_in(http, "alice").status_code == 303
    token, options = registration_options(http)
    assert options["rp"] == {"id": RP_ID, "name": RP_ID}
    assert options["user"]["name"] == "alice"
    assert base64url_to_bytes(options["user"]["id"]) == (alice.id or 0).to_bytes(8, "big")
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert len(base64url_to_bytes(options["challenge"])) >= 16  # §13.4.3

    authenticator = Authenticator()
    credential = authenticator.create(options)
    registered = post_json(
        http,
        "/passkeys/registration",
        token,
        {"name": "  Work   laptop ", "credential": credential},
    )

    assert registered.status_code == 200, registered.text
    assert registered.json() == {"name": "Work laptop"}
    [stored] = passkeys_in(database)
    assert stored.credential_id == b64(authenticator.credential_id)
    assert "=" not in stored.public_key and "=" not in stored.credential_id
    assert (stored.user_id, stored.name, stored.sign_count) == (alice.id, "Work laptop", 0)
    assert stored.transports == "internal" and stored.last_used_at is None
    assert events(database, "passkey.registered") == [{"user_id": alice.id, "name": "Work laptop"}]
    page = http.get("/account").text
    assert 'data-passkey="Work laptop"' in page and 'data-action="remove-passkey"' in page


def test_the_next_registration_excludes_the_passkeys_the_user_has(
    http: TestClient, database: Database, passkey: Authenticator
) -> None:
    """§5.4 excludeCredentials: one authenticator is not registered twice; a second
    passkey without a name gets a numbered one."""
    _, options = registration_options(http)
    assert [d["id"] for d in options["excludeCredentials"]] == [b64(passkey.credential_id)]
    assert register(http, Authenticator(), name="").json() == {"name": "Passkey 2"}
    assert len(passkeys_in(database)) == 2


def test_a_credential_id_registered_already_is_refused(
    http: TestClient,
    new_browser: Callable[[], TestClient],
    database: Database,
    passkey: Authenticator,
) -> None:
    """§7.1: a credential id registered to any user fails the ceremony: Bob cannot claim
    Alice's credential id with a key of his own."""
    make_user(database, "bob")
    bob = new_browser()
    assert sign_in(bob, "bob").status_code == 303
    impostor = Authenticator(credential_id=passkey.credential_id)
    assert_refused(register(bob, impostor))
    [stored] = passkeys_in(database)
    assert stored.public_key != b64(encode_cbor(impostor.cose_key()))
    assert stored.name == "Laptop"


def test_registration_needs_a_session_and_the_account_page_token(
    http: TestClient, new_browser: Callable[[], TestClient], alice: User
) -> None:
    """§7.1 registers a credential for a user the RP identified: a signed-in session,
    through its account page (the CSRF token bound to the session)."""
    stranger = new_browser()
    stranger.get("/login")
    assert_refused(post_json(stranger, "/passkeys/registration/options", "x", {}), "login_required")
    assert sign_in(http, "alice").status_code == 303
    assert_refused(post_json(http, "/passkeys/registration/options", None, {}), "invalid_request")
    login_token = csrf_token_of(http.get("/login?next=/account").text)
    assert_refused(
        post_json(http, "/passkeys/registration/options", login_token, {}), "invalid_request"
    )


def test_a_registration_answers_only_a_challenge_of_this_session(
    http: TestClient, new_browser: Callable[[], TestClient], database: Database, alice: User
) -> None:
    """§13.4.3: the challenge is bound to the session that asked for it; Alice's second
    browser cannot use her first browser's challenge."""
    assert sign_in(http, "alice").status_code == 303
    _, options = registration_options(http)
    other = new_browser()
    assert sign_in(other, "alice").status_code == 303
    credential = Authenticator().create(options)
    body = {"name": "x", "credential": credential}
    refused = post_json(other, "/passkeys/registration", account_token(other), body)
    assert_refused(refused, saying=EXPIRED)
    assert passkeys_in(database) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://127.0.0.1:8001"},
        {"rp_id": "evil.example"},
    ],
    ids=["foreign-origin", "other-port", "foreign-rp-id"],
)
def test_a_registration_for_another_origin_or_rp_is_refused(
    http: TestClient, database: Database, alice: User, overrides: dict[str, str]
) -> None:
    """§7.1: the client data's origin must be the RP's origin and the authenticator data's
    rpIdHash the SHA-256 of the RP ID."""
    assert sign_in(http, "alice").status_code == 303
    assert_refused(register(http, Authenticator(), **overrides))
    assert passkeys_in(database) == []


# --- a sign-in with a passkey alone (§7.2) ---------------------------------------------


def test_a_passkey_signs_in_without_a_username(
    new_browser: Callable[[], TestClient], database: Database, alice: User, passkey: Authenticator
) -> None:
    """§7.2, username-less: no credential is named, user verification is required, the
    user handle says whose passkey it is; the session proves `hwk mfa` (RFC 8176)."""
    browser = new_browser()
    token, options = sign_in_options(browser)
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert options["rpId"] == RP_ID

    signed_in = answer(browser, token, passkey.get(options))

    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json() == {"location": f"{ISSUER}/account"}
    session = session_of(browser, database)
    assert session is not None and session.user_id == alice.id
    assert session.amr == "hwk mfa"
    [stored] = passkeys_in(database)
    assert stored.sign_count == 1 and stored.last_used_at is not None
    assert browser.get("/account").status_code == 200
    [event] = events(database, "login.succeeded")[-1:]
    assert event["method"] == "hwk mfa"


def test_a_synced_passkey_signs_in_as_swk_with_its_counter_at_zero(
    http: TestClient, new_browser: Callable[[], TestClient], database: Database, alice: User
) -> None:
    """§6.1.3 backup state: a synced passkey is `swk`; §6.1.1: an authenticator without
    a counter leaves it at zero, which is not a regression."""
    assert sign_in(http, "alice").status_code == 303
    synced = Authenticator(counting=False, backed_up=True)
    assert register(http, synced).status_code == 200
    for _ in range(2):
        browser = new_browser()
        assert sign_in_with(browser, synced).status_code == 200
        session = session_of(browser, database)
        assert session is not None and session.amr == "swk mfa"
    [stored] = passkeys_in(database)
    assert stored.backed_up and stored.sign_count == 0


def test_a_sign_in_without_user_verification_is_refused(
    http: TestClient, new_browser: Callable[[], TestClient], alice: User
) -> None:
    """§7.2: with userVerification `required`, the UV flag must be set."""
    assert sign_in(http, "alice").status_code == 303
    unverified = Authenticator(verifies_user=False)
    assert register(http, unverified).status_code == 200
    assert_refused(sign_in_with(new_browser(), unverified))


def test_a_challenge_is_used_once(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """§13.4.3: the same response replayed, or a new one to the used challenge, is refused."""
    browser = new_browser()
    token, options = sign_in_options(browser)
    credential = passkey.get(options)
    assert answer(browser, token, credential).status_code == 200
    assert_refused(answer(browser, token, credential), saying=EXPIRED)
    assert_refused(answer(browser, token, passkey.get(options)), saying=EXPIRED)


def test_an_expired_challenge_is_refused(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """A challenge lives five minutes (§13.4.3, the ceremony's timeout §5.5)."""
    browser = new_browser()
    token, options = sign_in_options(browser)
    assert options["timeout"] == 300_000
    with database.transaction() as db:
        db.execute(update(WebAuthnChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_refused(answer(browser, token, passkey.get(options)), saying=EXPIRED)
    assert session_of(browser, database) is None


def test_a_sign_in_answers_only_a_challenge_of_this_browser(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """§13.4.3: the username-less challenge is bound to the browser that asked for it (its
    CSRF cookie): one phished to another browser is refused."""
    victim, attacker = new_browser(), new_browser()
    _, options = sign_in_options(victim)
    attacker_token, _ = sign_in_options(attacker)
    assert_refused(answer(attacker, attacker_token, passkey.get(options)), saying=EXPIRED)
    assert session_of(attacker, database) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://127.0.0.1:8000"},
        {"rp_id": "evil.example"},
    ],
    ids=["foreign-origin", "other-scheme", "foreign-rp-id"],
)
def test_an_assertion_for_another_origin_or_rp_is_refused(
    new_browser: Callable[[], TestClient],
    database: Database,
    passkey: Authenticator,
    overrides: dict[str, str],
) -> None:
    """§7.2: the origin in the client data and the rpIdHash in the authenticator data."""
    browser = new_browser()
    assert_refused(sign_in_with(browser, passkey, **overrides))
    assert session_of(browser, database) is None
    assert [event["reason"] for event in events(database, "login.failed")] == [
        "passkey not verified"
    ]


def test_a_wrong_signature_is_refused(
    new_browser: Callable[[], TestClient], passkey: Authenticator
) -> None:
    """§7.2: the signature must verify with the stored public key. The refused response
    used up its challenge all the same."""
    forged = Authenticator(credential_id=passkey.credential_id, user_handle=passkey.user_handle)
    browser = new_browser()
    token, options = sign_in_options(browser)
    assert_refused(answer(browser, token, forged.get(options)), saying="could not be verified")
    assert_refused(answer(browser, token, passkey.get(options)), saying=EXPIRED)


def test_a_sign_count_that_does_not_grow_is_refused_and_audited(
    new_browser: Callable[[], TestClient], database: Database, alice: User, passkey: Authenticator
) -> None:
    """§7.2 and §6.1.1: a counter not greater than the stored one (either non-zero)
    signals a cloned authenticator: refused, audited, and the stored counter kept."""
    passkey.sign_count = 9
    assert sign_in_with(new_browser(), passkey).status_code == 200  # stored: 10
    passkey.counting = False
    assert_refused(sign_in_with(new_browser(), passkey))  # 10 again
    passkey.sign_count = 4
    assert_refused(sign_in_with(new_browser(), passkey))  # 4
    [stored] = passkeys_in(database)
    assert stored.sign_count == 10
    refusals = events(database, "login.failed")
    assert refusals == [
        {
            "user_id": alice.id,
            "reason": "passkey sign count did not increase",
            "passkey": "Laptop",
            "sign_count": count,
            "stored": 10,
        }
        for count in (10, 4)
    ]


def test_an_unknown_credential_or_another_users_handle_is_refused(
    new_browser: Callable[[], TestClient], passkey: Authenticator
) -> None:
    """§7.2: the credential must be registered, and the user handle must be its owner's."""
    assert_refused(sign_in_with(new_browser(), Authenticator()))
    passkey.user_handle = (12345).to_bytes(8, "big")
    assert_refused(sign_in_with(new_browser(), passkey))


def test_a_disabled_users_passkey_does_not_sign_in(
    new_browser: Callable[[], TestClient], database: Database, alice: User, passkey: Authenticator
) -> None:
    """§7.2: the credential's user must be one the RP lets sign in."""
    with database.transaction() as db:
        db.execute(update(User).where(col(User.id) == alice.id).values(disabled=True))
    assert_refused(sign_in_with(new_browser(), passkey))


def test_the_ceremonies_need_the_pages_csrf_token(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """They change state (a challenge, a session): without the login page's token in
    X-CSRF-Token, or with another page's, they are refused."""
    browser = new_browser()
    browser.get("/login")
    for token in (None, "", "forged"):
        assert_refused(
            post_json(browser, "/passkeys/authentication/options", token, {"purpose": "sign-in"}),
            "invalid_request",
        )
    token, options = sign_in_options(browser)
    assert_refused(answer(browser, None, passkey.get(options)), "invalid_request")
    assert_refused(answer(browser, token + "x", passkey.get(options)), "invalid_request")
    assert session_of(browser, database) is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"not json"),
        ("application/json", b"[]"),
        ("application/json", b'{"purpose": "sign-in", "purpose": "second-factor"}'),
        ("application/json", b'{"purpose": "elsewhere"}'),
        ("application/json", b'{"purpose": "sign-in", "credential": "abc"}'),
        ("application/json", b'{"purpose": "sign-in", "credential": {"id": 1}}'),
        ("application/x-www-form-urlencoded", b"purpose=sign-in"),
        ("application/json", b'{"purpose": "sign-in", "x": "' + b"a" * 70_000 + b'"}'),
    ],
    ids=["not-json", "array", "repeated", "purpose", "string", "incomplete", "form", "large"],
)
def test_a_malformed_request_is_a_json_400_never_a_500(
    new_browser: Callable[[], TestClient], content_type: str, body: bytes
) -> None:
    """A body that is not one JSON object with a known `purpose` (RFC 8259, members
    unique), or is over 64 KiB, is refused before any ceremony runs."""
    browser = new_browser()
    token = page_token(browser, "/login", "sign-in")
    response = browser.post(
        "/passkeys/authentication",
        content=body,
        headers={"Content-Type": content_type, "X-CSRF-Token": token},
    )
    assert_refused(response, "invalid_request")


def test_a_garbled_credential_is_refused_never_a_500(
    new_browser: Callable[[], TestClient], passkey: Authenticator
) -> None:
    """Whatever the authenticator data, client data or signature hold."""
    for member, value in [
        ("clientDataJSON", b64(b"{}")),
        ("clientDataJSON", "!!"),
        ("authenticatorData", b64(b"\x00" * 10)),
        ("authenticatorData", 5),
        ("signature", b64(b"\x30\x00")),
        ("userHandle", 7),
    ]:
        browser = new_browser()
        token, options = sign_in_options(browser)
        credential = passkey.get(options)
        credential["response"][member] = value
        response = answer(browser, token, credential)
        assert response.status_code == 400, (member, value, response.text)
        assert response.json()["error"] in ("invalid_request", "access_denied")


# --- a passkey as the second factor (§7.2, the user identified first) ------------------


def test_a_passkey_is_the_second_factor_after_a_password(
    new_browser: Callable[[], TestClient], database: Database, alice: User, passkey: Authenticator
) -> None:
    """A user with a passkey is asked for it after the password; the options allow only
    her credentials (§5.5 allowCredentials), user verification preferred; the session
    proves `pwd hwk mfa`."""
    browser = new_browser()
    started = sign_in(browser, "alice", next_path="/account")
    assert started.status_code == 303
    assert "/login/second-factor" in started.headers["location"]
    assert session_of(browser, database) is None
    token, options = sign_in_options(browser, "second-factor")
    assert [d["id"] for d in options["allowCredentials"]] == [b64(passkey.credential_id)]
    assert options["userVerification"] == "preferred"

    proved = answer(browser, token, passkey.get(options), "second-factor")

    assert proved.status_code == 200, proved.text
    assert proved.json() == {"location": f"{ISSUER}/account"}
    session = session_of(browser, database)
    assert session is not None and session.user_id == alice.id
    assert session.amr == "pwd hwk mfa"
    assert "authserver_pending" in proved.headers["set-cookie"]  # cleared


def test_another_users_passkey_is_no_second_factor(
    http: TestClient,
    new_browser: Callable[[], TestClient],
    database: Database,
    passkey: Authenticator,
) -> None:
    """§7.2: the user was identified by the password, so the credential must be theirs."""
    make_user(database, "bob")
    bob = new_browser()
    assert sign_in(bob, "bob").status_code == 303
    bobs = Authenticator()
    assert register(bob, bobs).status_code == 200
    browser = new_browser()
    assert sign_in(browser, "alice").status_code == 303
    token, options = sign_in_options(browser, "second-factor")
    refused = answer(browser, token, bobs.get(options), "second-factor")
    assert_refused(refused, saying="not registered here")
    assert session_of(browser, database) is None


def test_a_second_factor_challenge_is_not_a_sign_in_challenge(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """A challenge counts only for the ceremony it was issued for."""
    browser = new_browser()
    assert sign_in(browser, "alice").status_code == 303
    _, options = sign_in_options(browser, "second-factor")
    login_token = page_token(browser, "/login", "sign-in")
    assert_refused(answer(browser, login_token, passkey.get(options), "sign-in"), saying=EXPIRED)
    assert session_of(browser, database) is None


def test_a_second_factor_needs_a_sign_in_under_way(
    new_browser: Callable[[], TestClient], passkey: Authenticator
) -> None:
    """§7.2 with the user identified first: a second factor needs a password proved
    (a pending sign-in) or a single-factor session."""
    browser = new_browser()
    token = page_token(browser, "/login", "sign-in")
    body = {"purpose": "second-factor"}
    assert_refused(
        post_json(browser, "/passkeys/authentication/options", token, body), "login_required"
    )


# --- removal ---------------------------------------------------------------------------


def remove(http: TestClient, credential_id: str) -> Response:
    form = {"csrf_token": account_token(http), "credential_id": credential_id}
    return http.post("/account/passkeys/remove", data=form, follow_redirects=False)


def test_a_user_removes_a_passkey_which_then_signs_in_no_more(
    http: TestClient,
    new_browser: Callable[[], TestClient],
    database: Database,
    alice: User,
    passkey: Authenticator,
) -> None:
    """Removing the credential record (§7.2: an unknown credential id fails the
    ceremony) is audited; the account page lists it no more."""
    removed = remove(http, b64(passkey.credential_id))
    assert removed.status_code == 303
    assert removed.headers["location"] == f"{ISSUER}/account"
    assert passkeys_in(database) == []
    assert events(database, "passkey.removed") == [{"user_id": alice.id, "name": "Laptop"}]
    assert "data-passkey=" not in http.get("/account").text
    assert_refused(sign_in_with(new_browser(), passkey), saying="not registered here")


def test_another_users_passkey_cannot_be_removed(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """Only the owner's credential records can be removed; another's stays, unaudited."""
    make_user(database, "bob")
    bob = new_browser()
    assert sign_in(bob, "bob").status_code == 303
    refused = remove(bob, b64(passkey.credential_id))
    assert refused.status_code == 400
    assert "not yours" in refused.text
    assert len(passkeys_in(database)) == 1
    assert events(database, "passkey.removed") == []


def test_removing_needs_the_account_pages_token(
    http: TestClient, database: Database, passkey: Authenticator
) -> None:
    """A form that changes state, protected like every account page form."""
    form = {"csrf_token": "forged", "credential_id": b64(passkey.credential_id)}
    refused = http.post("/account/passkeys/remove", data=form, follow_redirects=False)
    assert refused.status_code == 400
    assert len(passkeys_in(database)) == 1


# --- pages, script, housekeeping -------------------------------------------------------


def test_the_passkey_pages_may_run_only_our_script(http: TestClient, alice: User) -> None:
    """The login page allows `script-src 'self'` (passkeys.js, never inline); pages that
    offer no passkey keep allowing no script at all."""
    login = http.get("/login")
    assert script_sources(login) == ["'self'"]
    assert csp_directives(login)["connect-src"] == ["'self'"]
    assert 'data-action="passkey"' in login.text
    assert '<script src="/assets/passkeys.js" defer></script>' in login.text
    assert "<script>" not in login.text
    script = http.get("/assets/passkeys.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "navigator.credentials.get" in script.text
    error = http.get("/authorize")  # the error page: no client_id
    assert error.status_code == 400
    assert "script-src" not in error.headers["content-security-policy"]


def test_purge_deletes_only_expired_challenges(
    new_browser: Callable[[], TestClient], database: Database, passkey: Authenticator
) -> None:
    """`authserver db purge`: a challenge past its five minutes can never be used."""
    sign_in_options(new_browser())
    sign_in_options(new_browser())
    with database.transaction() as db:
        one = db.exec(select(WebAuthnChallenge)).first()
        assert one is not None
        db.execute(
            update(WebAuthnChallenge)
            .where(col(WebAuthnChallenge.challenge_hash) == one.challenge_hash)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with database.transaction() as db:
        assert purge_challenges(db, utcnow()) == 1
        assert len(db.exec(select(WebAuthnChallenge)).all()) == 1
