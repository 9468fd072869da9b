"""SECURITY-CHECKLIST "/authorize, /login, consent": the lines tests/http/test_authorize.py,
test_login.py, test_logout.py and test_redirect_matrix.py leave open.

- unknown authorization parameters are ignored;
- no POST is ever answered with 307 or 308 (POST /login with 303);
- every HTML page carries the headers, answers no CORS request, loads nothing from
  another origin;
- an unknown user and a wrong password each cost one argon2id verification;
- concurrent hashes are capped (near the core count by default), the excess gets 503;
- passwords are never truncated and have at most 1024 characters, at the login form.
"""

import os
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from authserver.app import create_app
from authserver.db import Database
from authserver.http import login as login_endpoint
from authserver.settings import Settings
from authserver.users.passwords import MAX_PASSWORD_LENGTH, PasswordHashing
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository
from tests.conftest import ISSUER, make_settings
from tests.factories import make_user, make_web_app
from tests.factors import enrol_totp
from tests.flows import (
    Pkce,
    answer_consent,
    authorize_path,
    code_of,
    csrf_token_of,
    path_after_login,
    query_of,
    sign_in,
)
from tests.http.pages import assert_page_headers

FAILED = "Incorrect username or password."
FOREIGN_ORIGIN = "https://evil.example.test"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Browser flows and password checks: nothing here depends on the database engine."""
    return sqlite_url


# --- unknown parameters are ignored ------------------------------------------------------

UNKNOWN_PARAMETERS = {
    "a made-up name": {"foo": "bar"},
    "tracking parameters": {"utm_source": "mail", "utm_campaign": "spring"},
    "markup in an unknown parameter": {"x-custom": "<script>alert(1)</script>"},
    "an extension we do not implement": {"acr_values_x": "urn:mace:incommon:iap:silver"},
}


@pytest.mark.parametrize("unknown", UNKNOWN_PARAMETERS.values(), ids=UNKNOWN_PARAMETERS.keys())
def test_unknown_authorization_parameters_are_ignored(
    http: TestClient, database: Database, unknown: dict[str, str]
) -> None:
    """SECURITY-CHECKLIST "/authorize": unknown ones ignored [RFC 6749 §3.1: "The
    authorization server MUST ignore unrecognized request parameters"]."""
    make_user(database)
    client, _ = make_web_app(database)
    code_of(http, client.client_id, Pkce())  # signed in, consent given: the next is silent
    response = http.get(authorize_path(client.client_id, **unknown), follow_redirects=False)
    query = query_of(response)
    assert response.status_code == 302
    assert "code" in query and "error" not in query, query
    assert not set(unknown) & set(query)


# --- POST /login -> 303, never 307 -------------------------------------------------------


def consent_page(http: TestClient, client_id: str) -> Response:
    path = authorize_path(client_id)
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303:
        assert sign_in(http, next_path=path_after_login(response)).status_code == 303
        response = http.get(path, follow_redirects=False)
    assert 'value="approve"' in response.text
    return response


def post_logout_confirmation(http: TestClient) -> Response:
    page = http.get("/logout")
    form = {"csrf_token": csrf_token_of(page.text), "decision": "logout"}
    return http.post("/logout", data=form, follow_redirects=False)


def signed_in(http: TestClient) -> TestClient:
    assert sign_in(http).status_code == 303
    return http


# Every POST a browser makes, and the status it must get (None: any but 307 and 308).
POSTS: dict[str, tuple[Callable[[TestClient, str], Response], int | None]] = {
    "POST /login, right password": (lambda http, _: sign_in(http, next_path="/login"), 303),
    "POST /login, wrong password": (lambda http, _: sign_in(http, password="wrong"), 200),
    "POST /login, no CSRF token": (
        lambda http, _: http.post(
            "/login", data={"username": "alice", "password": "correct horse"}
        ),
        400,
    ),
    "POST /authorize, consent approved": (
        lambda http, client_id: answer_consent(http, consent_page(http, client_id)),
        303,
    ),
    "POST /authorize, consent denied": (
        lambda http, client_id: answer_consent(http, consent_page(http, client_id), "deny"),
        303,
    ),
    "POST /logout, confirmed": (lambda http, _: post_logout_confirmation(signed_in(http)), None),
}


@pytest.mark.parametrize(("send", "status"), POSTS.values(), ids=POSTS.keys())
def test_no_post_is_answered_with_307_or_308(
    http: TestClient,
    database: Database,
    send: Callable[[TestClient, str], Response],
    status: int | None,
) -> None:
    """SECURITY-CHECKLIST "/login": POST /login → 303, never 307 [RFC 9700 §4.12: a 307
    would make the browser POST the password again, to wherever the redirect points];
    the consent form's answer too (FAPI 2.0 §5.3.2.2 item 11: 303 after a POST)."""
    make_user(database)
    client, _ = make_web_app(database)
    response = send(http, client.client_id)
    assert response.status_code not in (307, 308)
    if status is not None:
        assert response.status_code == status, response.text[:300]


# --- HTML: headers, no CORS, no third-party assets -------------------------------------


def with_origin(http: TestClient) -> TestClient:
    """Every request from a foreign page: a CORS answer would show in its headers."""
    http.headers["Origin"] = FOREIGN_ORIGIN
    return http


PAGES: dict[str, Callable[[TestClient, str], Response]] = {
    "login form": lambda http, _: http.get("/login"),
    "login form with a failure": lambda http, _: sign_in(http, password="wrong"),
    "signed-in page": lambda http, _: signed_in(http).get("/login"),
    "consent page": lambda http, client_id: consent_page(http, client_id),
    "authorize error page": lambda http, _: http.get("/authorize?client_id=nobody"),
    "logout confirmation": lambda http, _: signed_in(http).get("/logout"),
    "signed-out page": lambda http, _: post_logout_confirmation(signed_in(http)),
    "account page": lambda http, _: signed_in(http).get("/account"),
    "TOTP enrolment": lambda http, _: signed_in(http).get("/account/totp"),
    "second step of a sign-in": lambda http, _: second_step(http),
    "login form error page": lambda http, _: http.post(
        "/login", content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    ),
}


def second_step(http: TestClient) -> Response:
    """The page after a right password, for a user with a second factor."""
    signed_in(http)
    enrol_totp(http)
    http.cookies.clear()
    assert sign_in(http).status_code == 303
    return http.get("/login/second-factor")


class _Links(HTMLParser):
    """Every URL a page makes the browser load or go to: src, href, action, srcset."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "formaction", "poster", "data") and value:
                self.urls.append(value)
            elif name == "srcset" and value:
                self.urls.extend(part.split()[0] for part in value.split(","))
            elif name.startswith("on") or (name == "style" and value and "url(" in value):
                self.inline.append(f"{tag} {name}")
        # A script only from a file of this origin (the passkey pages' passkeys.js): the
        # CSP's script-src 'self' refuses inline code, and so does this check.
        if tag == "script" and not dict(attrs).get("src"):
            self.inline.append(tag)
        if tag in ("iframe", "object", "embed"):
            self.inline.append(tag)


def is_same_origin(url: str) -> bool:
    parts = urlsplit(url)
    if url.startswith("//") or parts.scheme not in ("", "http", "https"):
        return False
    return not parts.netloc or f"{parts.scheme}://{parts.netloc}" == ISSUER


@pytest.mark.parametrize("page_of", PAGES.values(), ids=PAGES.keys())
def test_every_html_page_has_the_security_headers_no_cors_and_no_third_party_assets(
    http: TestClient, database: Database, page_of: Callable[[TestClient, str], Response]
) -> None:
    """SECURITY-CHECKLIST "HTML": CSP `frame-ancestors 'none'; object-src 'none'; base-uri
    'none'`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `nosniff`; no CORS,
    no third-party assets [RFC 9700 §4.16 clickjacking, §4.2.4 referrer leaks]."""
    make_user(database)
    client, _ = make_web_app(database)
    response = page_of(with_origin(http), client.client_id)
    assert response.headers["content-type"].startswith("text/html"), response.status_code
    assert_page_headers(response)
    assert not any(name.startswith("access-control-") for name in response.headers)
    links = _Links()
    links.feed(response.text)
    assert links.urls, "every page links at least its stylesheet"
    assert [url for url in links.urls if not is_same_origin(url)] == []
    assert links.inline == []
    # The CSP allows nothing from elsewhere either: only keywords, no host or scheme.
    policy = response.headers["content-security-policy"]
    sources = [s for d in policy.split(";") for s in d.split()[1:]]
    assert all(s.startswith("'") for s in sources), policy


def test_the_stylesheet_loads_nothing_from_another_origin(http: TestClient) -> None:
    """SECURITY-CHECKLIST "HTML": no third-party assets (no web fonts, no imports)."""
    response = http.get("/assets/authserver.css", headers={"Origin": FOREIGN_ORIGIN})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "access-control-allow-origin" not in response.headers
    css = response.text
    assert "@import" not in css
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css)
    assert [url for url in urls if not (url.startswith("data:") or is_same_origin(url))] == []


# --- unknown user and wrong password: one verification each ---------------------------

# argon2id t=16: 0.2 s (idle) to 1 s (busy) per verification here, far above the cost
# of a request's other work (a few milliseconds) and its jitter.
SLOW_TIME_COST = 16


@pytest.fixture
def slow_hashing_app(database: Database, keys_dir: Path) -> FastAPI:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, password_time_cost=SLOW_TIME_COST
    )
    return create_app(settings)


def verification_seconds(hashing: PasswordHashing, stored: str) -> float:
    """How long one argon2id verification takes here, now (the machine may be busy)."""
    started = time.perf_counter()
    hashing.verify("wrong horse", stored)
    return time.perf_counter() - started


def timed_login(http: TestClient, token: str, username: str, password: str) -> tuple[float, str]:
    form = {"csrf_token": token, "username": username, "password": password}
    started = time.perf_counter()
    response = http.post("/login", data=form, follow_redirects=False)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed, response.text


@pytest.mark.parametrize(
    "stored_time_cost",
    [
        pytest.param(SLOW_TIME_COST, id="password hashed with the current parameters"),
        pytest.param(2, id="password hashed before AUTHSERVER_PASSWORD_TIME_COST was raised"),
    ],
)
def test_an_unknown_user_and_a_wrong_password_both_cost_one_password_verification(
    slow_hashing_app: FastAPI, database: Database, stored_time_cost: int
) -> None:
    """SECURITY-CHECKLIST "/login": unknown user and wrong password: same message, status,
    timing (dummy verify). With a verification made slow, both answers take at least
    about one verification, and about the same time; an answer that verifies nothing (an
    empty password) is clearly faster, so the measure can tell them apart. Also when the
    user's hash predates a raise of the parameters (they are settings, and a stored hash
    is upgraded only at the user's next successful sign-in: test_password_upgrade.py)."""
    server_hashing = slow_hashing_app.state.services.settings.password_hashing()
    reference = server_hashing.hash("correct horse")
    with database.transaction() as session:
        older = PasswordHashing(time_cost=stored_time_cost)
        create_user(UserRepository(session), "alice", "correct horse", None, older)
    one, unknown, wrong, nothing = [], [], [], []
    with TestClient(slow_hashing_app, base_url=ISSUER) as http:
        token = csrf_token_of(http.get("/login").text)
        # Interleaved, so that a busy spell of the machine weighs on every figure alike.
        for number in range(3):
            one.append(verification_seconds(server_hashing, reference))
            unknown.append(timed_login(http, token, f"nobody{number}", "wrong horse"))
            wrong.append(timed_login(http, token, "alice", "wrong horse"))
            nothing.append(timed_login(http, token, "alice", "")[0])
    assert {FAILED in text for _, text in unknown + wrong} == {True}
    verification = statistics.median(one)
    unknown_s = statistics.median(seconds for seconds, _ in unknown)
    wrong_s = statistics.median(seconds for seconds, _ in wrong)
    figures = (
        f"one verification {verification:.3f} s, unknown user {unknown_s:.3f} s, "
        f"wrong password {wrong_s:.3f} s, no verification {min(nothing):.3f} s"
    )
    print(figures)
    assert min(seconds for seconds, _ in unknown) >= 0.5 * verification, figures
    assert min(seconds for seconds, _ in wrong) >= 0.5 * verification, figures
    assert abs(unknown_s - wrong_s) <= 0.6 * verification, figures
    assert min(nothing) < 0.5 * verification, figures


# --- concurrent hashes capped, excess 503 -----------------------------------------------


def test_concurrent_password_checks_are_capped_near_the_core_count_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SECURITY-CHECKLIST "/login": concurrent hashes capped near core count (one argon2id
    verification per core at a time: 19 MiB each, CPU-bound)."""
    monkeypatch.delenv("AUTHSERVER_LOGIN_MAX_CONCURRENT_HASHES", raising=False)
    assert Settings(_env_file=None).login_max_concurrent_hashes == (os.cpu_count() or 2)  # type: ignore[call-arg]


@pytest.fixture
def one_hash_at_a_time(
    database: Database, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A server that verifies one password at a time (each taking 0.3 s or more), and
    waits 0.05 s (not 5 s) for a free slot: a request arriving during a verification is
    turned away. The wait is a module constant of the login endpoint, set here."""
    monkeypatch.setattr(login_endpoint, "HASH_SLOT_TIMEOUT_SECONDS", 0.05)
    settings = make_settings(
        database_url=database.url,
        keys_dir=keys_dir,
        login_max_concurrent_hashes=1,
        password_time_cost=2 * SLOW_TIME_COST,
    )
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


def test_password_checks_beyond_the_cap_are_turned_away_with_503_and_retry_after(
    one_hash_at_a_time: TestClient,
) -> None:
    """SECURITY-CHECKLIST "/login": excess → 429/503 (here 503 with Retry-After: a busy
    server, not a throttled account), never a queue without bound."""
    http = one_hash_at_a_time
    token = csrf_token_of(http.get("/login").text)
    barrier = threading.Barrier(4)
    responses: list[Response] = []

    def guess(number: int) -> None:
        form = {"csrf_token": token, "username": f"guesser{number}", "password": "guess"}
        barrier.wait()
        responses.append(http.post("/login", data=form))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) == {200, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert "busy" in response.text


# --- no truncation, at most 1024 characters ----------------------------------------------

LONGEST = "0123456789abcdef" * (MAX_PASSWORD_LENGTH // 16)


@pytest.mark.parametrize(
    ("typed", "signs_in"),
    [
        (LONGEST, True),
        (LONGEST[:-1], False),
        (LONGEST[:72], False),
        (LONGEST + "x", False),
        (LONGEST * 4, False),
    ],
    ids=[
        "all 1024 characters",
        "the first 1023",
        "the first 72 (bcrypt's cut)",
        "1025 characters",
        "4096 characters",
    ],
)
def test_a_password_is_never_truncated_and_has_at_most_1024_characters(
    http: TestClient, database: Database, typed: str, signs_in: bool
) -> None:
    """SECURITY-CHECKLIST "/login": no truncation, ≤ 1024 characters; a longer one is a
    wrong password like any other (same answer, no error page, no hash of megabytes)."""
    assert len(LONGEST) == MAX_PASSWORD_LENGTH
    make_user(database, "alice", LONGEST)
    response = sign_in(http, "alice", typed)
    if signs_in:
        assert response.status_code == 303
    else:
        assert response.status_code == 200
        assert FAILED in response.text
