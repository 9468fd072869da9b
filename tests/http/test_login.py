"""The login page over HTTP: form, CSRF, cookies, sessions, throttle (SECURITY-CHECKLIST)."""

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.devices import DEVICE_TTL
from authserver.login.models import LoginThrottle
from authserver.login.throttle import FREE_ATTEMPTS_PER_ADDRESS, account_key
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.factories import make_user, make_web_app
from tests.flows import Pkce, authorize_path, code_of, csrf_token_of, exchange_code, sign_in
from tests.http.pages import assert_page_headers, script_sources

SESSION_COOKIE = "authserver_session"
CSRF_COOKIE = "authserver_csrf"
DEVICE_COOKIE = "authserver_device"
HTTPS_ISSUER = "https://auth.example.test"
FAILED = "Incorrect username or password."
FREE_ATTEMPTS_PER_ACCOUNT = 5
_ALERT = re.compile(r'<p class="alert" role="alert">([^<]*)</p>')


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str, name: str) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(page)
    return [attrs for tag, attrs in parser.tags if tag == name]


def set_cookie(response: Response, name: str) -> dict[str, str] | None:
    """The raw Set-Cookie for `name`: its value under "", then lower-cased attributes."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        cookie_name, _, value = first.partition("=")
        if cookie_name == name:
            parsed = {"": value}
            for attribute in attributes:
                key, _, attribute_value = attribute.partition("=")
                parsed[key.lower()] = attribute_value
            return parsed
    return None


def assert_browser_cookie(cookie: dict[str, str] | None, secure: bool) -> None:
    """SECURITY-CHECKLIST: `HttpOnly`, `SameSite=Lax`, `Path=/`; `Secure` with https."""
    assert cookie is not None
    assert cookie[""]
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    assert ("secure" in cookie) is secure


def alert_of(response: Response) -> str | None:
    found = _ALERT.search(response.text)
    return found.group(1) if found else None


def post_login(http: TestClient, **form: str) -> Response:
    return http.post("/login", data=form, follow_redirects=False)


def login_form_token(http: TestClient) -> str:
    return csrf_token_of(http.get("/login").text)


@pytest.fixture
def alice(database: Database) -> User:
    return make_user(database)


# --- the form ------------------------------------------------------------------------


def test_the_login_form_has_username_password_a_csrf_token_and_one_button(
    http: TestClient,
) -> None:
    # CONTRACT.md: inputs `username` and `password` with `autocomplete`, one submit button.
    page = http.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    inputs = {attrs.get("name"): attrs for attrs in tags_of(page.text, "input")}
    assert inputs["username"]["autocomplete"] == "username webauthn"  # passkeys in the autofill
    assert inputs["password"]["autocomplete"] == "current-password"
    assert inputs["password"]["type"] == "password"
    assert inputs["csrf_token"]["type"] == "hidden"
    assert inputs["csrf_token"]["value"]
    buttons = [b for b in tags_of(page.text, "button") if b.get("type", "submit") == "submit"]
    assert len(buttons) == 1
    (form,) = tags_of(page.text, "form")
    assert (form.get("method") or "").lower() == "post"


def test_the_login_page_carries_the_security_headers(http: TestClient) -> None:
    # The Origin makes the "no CORS" check meaningful: a foreign page asks, gets nothing.
    assert_page_headers(http.get("/login", headers={"Origin": "https://evil.test"}))


def test_the_login_page_sets_an_http_only_same_site_csrf_cookie(http: TestClient) -> None:
    # SECURITY-CHECKLIST: cookies HttpOnly, SameSite=Lax, Path=/; no Secure on http.
    response = http.get("/login")
    assert_browser_cookie(set_cookie(response, CSRF_COOKIE), secure=False)
    assert set_cookie(response, SESSION_COOKIE) is None


# --- CSRF ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", [None, "", "wrong", "A" * 43], ids=["missing", "empty", "wrong", "forged"]
)
def test_a_login_post_without_the_right_csrf_token_is_refused(
    http: TestClient, alice: User, token: str | None
) -> None:
    """SECURITY-CHECKLIST / RFC 9700 §4.7: the login form carries a CSRF token bound to
    the browser; without it no session starts, even with the right password."""
    http.get("/login")
    form = {"username": "alice", "password": "correct horse"}
    if token is not None:
        form["csrf_token"] = token
    response = post_login(http, **form)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert set_cookie(response, SESSION_COOKIE) is None


def test_a_csrf_token_of_another_browser_is_refused(
    http: TestClient, app: FastAPI, alice: User
) -> None:
    # Login CSRF (RFC 9700 §4.7): an attacker's own token does not work in the victim's
    # browser, whose CSRF cookie differs.
    token = login_form_token(http)
    victim = TestClient(app, base_url=ISSUER)
    victim.get("/login")
    form = {"csrf_token": token, "username": "alice", "password": "correct horse"}
    response = post_login(victim, **form)
    assert response.status_code == 400
    assert set_cookie(response, SESSION_COOKIE) is None


# --- failures look alike -------------------------------------------------------------


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    http: TestClient, alice: User
) -> None:
    """SECURITY-CHECKLIST: same message and status, so the answer does not tell whether
    the account exists (only the echoed username differs)."""
    token = login_form_token(http)
    wrong = post_login(http, csrf_token=token, username="alice", password="wrong horse")
    unknown = post_login(http, csrf_token=token, username="nobody", password="wrong horse")
    assert wrong.status_code == unknown.status_code == 200
    assert alert_of(wrong) == alert_of(unknown) == FAILED
    blank_values = re.compile(r'value="[^"]*"')
    assert blank_values.sub("", wrong.text) == blank_values.sub("", unknown.text)
    for response in (wrong, unknown):
        assert set_cookie(response, SESSION_COOKIE) is None
        assert "location" not in response.headers


def test_a_disabled_user_cannot_sign_in_and_gets_the_same_answer(
    http: TestClient, database: Database, alice: User
) -> None:
    # CONTRACT.md `users disable`; SECURITY-CHECKLIST: same message as a wrong password.
    with database.transaction() as db:
        db.execute(update(User).where(User.id == alice.id).values(disabled=True))
    response = sign_in(http)
    assert response.status_code == 200
    assert alert_of(response) == FAILED
    assert set_cookie(response, SESSION_COOKIE) is None


# --- success -------------------------------------------------------------------------


def test_a_successful_login_is_a_303_to_next_with_a_session_cookie(
    http: TestClient, alice: User
) -> None:
    """RFC 9700 §4.12: 303, never 307 (which would re-POST the password to `next`);
    SECURITY-CHECKLIST: the session cookie is HttpOnly, SameSite=Lax, Path=/."""
    next_path = "/authorize?client_id=x&state=y"
    response = sign_in(http, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == ISSUER + next_path
    assert_browser_cookie(set_cookie(response, SESSION_COOKIE), secure=False)


def test_a_login_without_next_shows_the_signed_in_page(http: TestClient, alice: User) -> None:
    response = sign_in(http)
    assert response.status_code == 303
    assert response.headers["location"] == ISSUER + "/login"
    page = http.get("/login")
    assert "You are signed in" in page.text


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.test",
        "//evil.test/authorize",
        "https://evil.test",
        "http://evil.test/",
        "/\\evil.test",
        "\\\\evil.test",
        "/\\/evil.test",
        "///evil.test",
        "/\t/evil.test",
        "/\r\nLocation: https://evil.test",
        "javascript:alert(1)",
        "evil.test",
    ],
)
def test_a_login_never_redirects_off_origin(http: TestClient, alice: User, next_path: str) -> None:
    # SECURITY-CHECKLIST: `next=` same-origin paths only (open redirect, RFC 9700 §4.11).
    response = sign_in(http, next_path=next_path)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc) == ("http", "127.0.0.1:8000")
    assert not location.path.startswith(("//", "/\\"))


# --- sessions ------------------------------------------------------------------------


def signed_in_client_id(http: TestClient, database: Database) -> str:
    """A web app whose consent alice already gave in this browser."""
    client, _ = make_web_app(database)
    code_of(http, client.client_id, Pkce())
    return client.client_id


def authorize_with_cookie(app: FastAPI, client_id: str, cookie: str) -> Response:
    """GET /authorize from a browser holding only this session cookie."""
    browser = TestClient(app, base_url=ISSUER, cookies={SESSION_COOKIE: cookie})
    return browser.get(authorize_path(client_id, scope="openid"), follow_redirects=False)


def test_each_login_gives_a_new_session_cookie_and_the_old_one_stops_working(
    http: TestClient, app: FastAPI, database: Database, alice: User
) -> None:
    """SECURITY-CHECKLIST "new session id at login" (no session fixation).

    The same user signing in again in the same browser keeps the session (its `sid`)
    but gets a new secret (authserver/login/sessions.py renew_session): the old cookie
    value no longer names any session.
    """
    first = sign_in(http)
    client_id = signed_in_client_id(http, database)
    # With a session, /login shows the signed-in page unless a `next` asks for the form.
    second = sign_in(http, next_path="/login")
    old = set_cookie(first, SESSION_COOKIE)
    new = set_cookie(second, SESSION_COOKIE)
    assert old is not None and new is not None
    assert old[""] != new[""]
    with_new = authorize_with_cookie(app, client_id, new[""])
    assert with_new.status_code == 302
    assert "code=" in with_new.headers["location"]
    with_old = authorize_with_cookie(app, client_id, old[""])
    assert with_old.status_code == 303
    assert with_old.headers["location"].startswith(ISSUER + "/login?")


def test_signing_in_again_keeps_the_session_id_of_the_id_token(
    http: TestClient, database: Database, alice: User
) -> None:
    # renew_session: a new secret, the same `sid` (OIDC Front-Channel Logout §2).
    client, secret = make_web_app(database)

    def sid_now() -> str:
        pkce = Pkce()
        code = code_of(http, client.client_id, pkce)
        tokens = exchange_code(http, client.client_id, secret, code, pkce.verifier).json()
        return jwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"]

    before = sid_now()
    assert sign_in(http, next_path="/login").status_code == 303
    assert sid_now() == before


def test_a_cookie_planted_before_login_is_never_adopted(
    app: FastAPI, database: Database, alice: User
) -> None:
    # Session fixation: a value the attacker chose never becomes the session's.
    planted = {SESSION_COOKIE: "planted-by-attacker"}
    with TestClient(app, base_url=ISSUER, cookies=planted) as browser:
        response = sign_in(browser)
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie is not None
    assert cookie[""] != "planted-by-attacker"


def test_another_user_signing_in_ends_the_previous_session(
    http: TestClient, app: FastAPI, database: Database, alice: User
) -> None:
    first = set_cookie(sign_in(http), SESSION_COOKIE)
    client_id = signed_in_client_id(http, database)
    make_user(database, "bob", "bob's password")
    second = set_cookie(sign_in(http, "bob", "bob's password", "/login"), SESSION_COOKIE)
    assert first is not None and second is not None
    assert first[""] != second[""]
    with_old = authorize_with_cookie(app, client_id, first[""])
    assert with_old.status_code == 303
    assert with_old.headers["location"].startswith(ISSUER + "/login?")


# --- an https issuer -----------------------------------------------------------------


@pytest.fixture
def https_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        issuer=HTTPS_ISSUER, database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0
    )
    with TestClient(create_app(settings), base_url=HTTPS_ISSUER) as client:
        yield client


def test_with_an_https_issuer_the_cookies_are_secure_and_host_prefixed(
    https_http: TestClient, alice: User
) -> None:
    # SECURITY-CHECKLIST: with an https issuer, also `Secure` and the `__Host-` prefix.
    page = https_http.get("/login")
    assert set_cookie(page, CSRF_COOKIE) is None
    assert_browser_cookie(set_cookie(page, "__Host-" + CSRF_COOKIE), secure=True)
    response = sign_in(https_http, next_path="/login")
    assert response.status_code == 303
    assert response.headers["location"] == HTTPS_ISSUER + "/login"
    assert set_cookie(response, SESSION_COOKIE) is None
    assert_browser_cookie(set_cookie(response, "__Host-" + SESSION_COOKIE), secure=True)


# --- throttling ----------------------------------------------------------------------


def move_throttle_past(database: Database, key: str) -> None:
    """As if the wait were over, without sleeping through it."""
    with database.transaction() as db:
        past = utcnow() - timedelta(seconds=1)
        db.execute(update(LoginThrottle).where(LoginThrottle.key == key).values(not_before=past))


def assert_throttled(response: Response) -> int:
    assert response.status_code == 429, (response.status_code, alert_of(response))
    assert set_cookie(response, SESSION_COOKIE) is None
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


@pytest.mark.parametrize("username", ["alice", "nobody"], ids=["known", "unknown"])
def test_wrong_passwords_for_one_account_are_throttled_with_a_growing_delay(
    http: TestClient, database: Database, alice: User, username: str
) -> None:
    """SECURITY-CHECKLIST: throttle per account, growing delay, no permanent lockout;
    an unknown account is throttled alike (the answer tells nothing)."""
    token = login_form_token(http)
    for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
        response = post_login(http, csrf_token=token, username=username, password="guess")
        assert response.status_code == 200
        assert alert_of(response) == FAILED
    first_wait = assert_throttled(
        post_login(http, csrf_token=token, username=username, password="guess")
    )
    move_throttle_past(database, account_key(username))
    response = post_login(http, csrf_token=token, username=username, password="guess")
    assert response.status_code == 200
    second_wait = assert_throttled(
        post_login(http, csrf_token=token, username=username, password="guess")
    )
    assert second_wait > first_wait


def test_the_right_password_during_the_delay_is_refused_too(http: TestClient, alice: User) -> None:
    # SECURITY-CHECKLIST: all password paths share the throttle; success is no bypass.
    token = login_form_token(http)
    for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
        post_login(http, csrf_token=token, username="alice", password="guess")
    assert_throttled(post_login(http, csrf_token=token, username="alice", password="correct horse"))


def test_a_throttled_account_signs_in_once_the_delay_is_over(
    http: TestClient, database: Database, alice: User
) -> None:
    # SECURITY-CHECKLIST: no permanent lockout an attacker could use against the owner.
    token = login_form_token(http)
    for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
        post_login(http, csrf_token=token, username="alice", password="guess")
    move_throttle_past(database, account_key("alice"))
    response = post_login(http, csrf_token=token, username="alice", password="correct horse")
    assert response.status_code == 303
    assert set_cookie(response, SESSION_COOKIE) is not None


def test_a_throttled_account_does_not_throttle_other_accounts(
    http: TestClient, database: Database, alice: User
) -> None:
    make_user(database, "bob", "bob's password")
    token = login_form_token(http)
    for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
        post_login(http, csrf_token=token, username="alice", password="guess")
    assert_throttled(post_login(http, csrf_token=token, username="alice", password="guess"))
    response = post_login(http, csrf_token=token, username="bob", password="bob's password")
    assert response.status_code == 303


def test_one_address_guessing_many_accounts_is_throttled(
    http: TestClient, database: Database, alice: User
) -> None:
    # SECURITY-CHECKLIST: throttle per IP too (password spraying over many accounts).
    token = login_form_token(http)
    for number in range(FREE_ATTEMPTS_PER_ADDRESS):
        response = post_login(http, csrf_token=token, username=f"user{number}", password="guess")
        assert response.status_code == 200, number
    assert_throttled(post_login(http, csrf_token=token, username="alice", password="correct horse"))


# --- device cookies: strangers' guesses do not keep the owner out ----------------------


@pytest.fixture
def stranger(app: FastAPI) -> Iterator[TestClient]:
    """Another browser, at the same address as `http` (TestClient's), that never signed in."""
    with TestClient(app, base_url=ISSUER) as client:
        yield client


def guess_until_throttled(browser: TestClient, username: str) -> None:
    # With `next`, the form is shown to a browser that is signed in already.
    token = csrf_token_of(browser.get("/login", params={"next": "/login"}).text)
    for _ in range(FREE_ATTEMPTS_PER_ACCOUNT):
        response = post_login(browser, csrf_token=token, username=username, password="guess")
        assert response.status_code == 200
    assert_throttled(post_login(browser, csrf_token=token, username=username, password="guess"))


def test_a_sign_in_makes_the_browser_known_with_a_long_lived_device_cookie(
    http: TestClient, alice: User
) -> None:
    response = sign_in(http)
    assert response.status_code == 303
    cookie = set_cookie(response, DEVICE_COOKIE)
    assert_browser_cookie(cookie, secure=False)
    assert cookie is not None and int(cookie["max-age"]) == DEVICE_TTL.total_seconds()


def test_strangers_guesses_do_not_keep_the_owner_out(
    http: TestClient, stranger: TestClient, alice: User
) -> None:
    """Issue 14 (lockout as denial of service): a browser that signed in to the account
    before is throttled on its own, so the owner signs in while strangers are held."""
    assert sign_in(http).status_code == 303
    guess_until_throttled(stranger, "alice")
    # The stranger stays held, even with the right password (checklist: success is no bypass).
    token = login_form_token(stranger)
    right = post_login(stranger, csrf_token=token, username="alice", password="correct horse")
    assert_throttled(right)
    owner = sign_in(http, next_path="/login")  # signed in already: the form, with `next`
    assert owner.status_code == 303
    assert set_cookie(owner, SESSION_COOKIE) is not None


def test_a_known_browser_gets_only_a_few_guesses_of_its_own(
    http: TestClient, stranger: TestClient, alice: User
) -> None:
    """A stolen device is throttled too (SECURITY-CHECKLIST: throttle every password
    path), and its guesses do not count against the account elsewhere."""
    assert sign_in(http).status_code == 303
    guess_until_throttled(http, "alice")
    assert sign_in(stranger).status_code == 303


def test_a_device_cookie_of_another_account_is_no_exemption(
    http: TestClient, stranger: TestClient, database: Database, alice: User
) -> None:
    make_user(database, "bob", "bob's password")
    assert sign_in(http, "bob", "bob's password").status_code == 303
    guess_until_throttled(stranger, "alice")
    # Known to bob, not to alice: alice's account is held for this browser as well.
    token = csrf_token_of(http.get("/login", params={"next": "/login"}).text)
    assert_throttled(post_login(http, csrf_token=token, username="alice", password="guess"))


def test_at_an_ip_address_issuer_the_login_page_offers_no_passkey_and_runs_no_script(
    http: TestClient,
) -> None:
    """WebAuthn L3 §5.1.4.1: browsers refuse an IP address as RP ID, so at the development
    default issuer (http://127.0.0.1:8000) the page shows no passkey button that could only
    fail, loads no script, and its CSP allows none."""
    page = http.get("/login")
    assert 'data-action="passkey"' not in page.text and "<script" not in page.text
    assert script_sources(page) == ["'none'"]
