"""The account page (/account): the user's sessions, the applications they let in, their
password; every action CSRF-protected, audited, and ending the tokens it must."""

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.login.models import Consent
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.flows import Grant, csrf_token_of, grant_for, sign_in
from tests.http.pages import assert_page_headers
from tests.http.tokens import assert_oauth_error

SESSION = re.compile(r'<li class="item" data-session="([^"]+)"( data-current)?>')


def refresh(http: TestClient, grant: Grant) -> Response:
    data = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    return http.post("/token", data=data, **grant.auth)


def account_form(http: TestClient, action: str, **fields: str) -> Response:
    """POST one of the account page's forms with the page's CSRF token; not followed."""
    page = http.get("/account")
    assert page.status_code == 200, page.text[:300]
    data = {"csrf_token": csrf_token_of(page.text), **fields}
    return http.post(f"/account/{action}", data=data, follow_redirects=False)


def events(database: Database) -> list[str]:
    with database.transaction() as db:
        return [row.event for row in db.exec(select(AuditEvent)).all()]


@pytest.fixture
def second_browser(app: FastAPI) -> Any:
    with TestClient(app, base_url=ISSUER) as other:
        yield other


@pytest.fixture
def two_browsers(
    http: TestClient, second_browser: TestClient, web_app: tuple[str, str]
) -> tuple[Grant, Grant]:
    """alice let the web app in from two browsers: a token family in each."""
    return grant_for(http, *web_app), grant_for(second_browser, *web_app)


def test_the_account_page_needs_a_session(http: TestClient) -> None:
    response = http.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == ISSUER + "/login?next=%2Faccount"


def test_the_page_lists_sessions_and_applications_with_their_actions(
    http: TestClient, two_browsers: tuple[Grant, Grant], web_app: tuple[str, str]
) -> None:
    page = http.get("/account", headers={"user-agent": "Browser One"})
    assert page.status_code == 200
    assert_page_headers(page)
    sessions = SESSION.findall(page.text)
    assert len(sessions) == 2 and [bool(current) for _, current in sessions].count(True) == 1
    assert page.text.count('data-action="sign-out-session"') == 2
    assert 'data-action="sign-out-everywhere"' in page.text
    assert f'data-app="{web_app[0]}"' in page.text and 'data-action="revoke-access"' in page.text
    assert 'data-action="enrol-totp"' in page.text
    assert "testclient" in page.text  # the browser each session signed in from


def test_signing_out_another_session_ends_it_and_its_refresh_tokens(
    http: TestClient,
    second_browser: TestClient,
    two_browsers: tuple[Grant, Grant],
    database: Database,
) -> None:
    mine, theirs = two_browsers
    page = http.get("/account")
    other_sid = next(sid for sid, current in SESSION.findall(page.text) if not current)
    response = account_form(http, "sessions/end", sid=other_sid)
    assert response.status_code == 303 and response.headers["location"] == ISSUER + "/account"
    assert_oauth_error(refresh(http, theirs), 400, "invalid_grant")
    assert refresh(http, mine).status_code == 200
    login = second_browser.get("/account", follow_redirects=False)
    assert login.status_code == 303 and "/login?" in login.headers["location"]
    assert "session.ended" in events(database)


def test_sign_out_everywhere_ends_every_session_and_family(
    http: TestClient, second_browser: TestClient, two_browsers: tuple[Grant, Grant]
) -> None:
    response = account_form(http, "sessions/end-all")
    assert response.status_code == 303 and "/login?" in response.headers["location"]
    for browser, grant in zip((http, second_browser), two_browsers, strict=True):
        assert_oauth_error(refresh(browser, grant), 400, "invalid_grant")
        assert browser.get("/account", follow_redirects=False).status_code == 303


def test_another_users_session_cannot_be_signed_out(
    http: TestClient, second_browser: TestClient, database: Database, user: User
) -> None:
    from tests.factories import make_user

    make_user(database, "bob")
    assert sign_in(second_browser, "bob").status_code == 303
    bobs_sid = SESSION.findall(second_browser.get("/account").text)[0][0]
    assert sign_in(http).status_code == 303
    refused = account_form(http, "sessions/end", sid=bobs_sid)
    assert refused.status_code == 400 and "not yours" in refused.text
    assert second_browser.get("/account").status_code == 200


def test_revoke_access_forgets_the_consent_and_the_apps_refresh_tokens(
    http: TestClient, grant: Grant, web_app: tuple[str, str], database: Database
) -> None:
    response = account_form(http, "apps/revoke", client_id=web_app[0])
    assert response.status_code == 303
    assert_oauth_error(refresh(http, grant), 400, "invalid_grant")
    with database.transaction() as db:
        assert db.exec(select(Consent)).all() == []
    assert "consent.revoked" in events(database)
    assert f'data-app="{web_app[0]}"' not in http.get("/account").text
    # The next authorization asks for consent again.
    again = http.get(
        f"/authorize?response_type=code&client_id={web_app[0]}&redirect_uri="
        "https://app.example.test/callback&scope=openid&code_challenge="
        + "a" * 43
        + "&code_challenge_method=S256",
        follow_redirects=False,
    )
    assert again.status_code == 200 and 'value="approve"' in again.text
    unknown = account_form(http, "apps/revoke", client_id="not-an-app")
    assert unknown.status_code == 400


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    http: TestClient,
    second_browser: TestClient,
    two_browsers: tuple[Grant, Grant],
    database: Database,
) -> None:
    mine, theirs = two_browsers
    new = "a much better passphrase"
    wrong = account_form(
        http, "password", current_password="nope", new_password=new, confirm_password=new
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    mismatch = account_form(
        http,
        "password",
        current_password="correct horse",
        new_password=new,
        confirm_password=new + "!",
    )
    assert mismatch.status_code == 400
    short = account_form(
        http, "password", current_password="correct horse", new_password="x", confirm_password="x"
    )
    assert short.status_code == 400
    changed = account_form(
        http,
        "password",
        current_password="correct horse",
        new_password=new,
        confirm_password=new,
        sign_out_others="yes",
    )
    assert changed.status_code == 200 and "password was changed" in changed.text
    assert_oauth_error(refresh(second_browser, theirs), 400, "invalid_grant")
    assert refresh(http, mine).status_code == 200
    assert "password.changed" in events(database)
    with TestClient(http.app, base_url=ISSUER) as third:
        assert sign_in(third, password="correct horse").status_code == 200  # the form again
        assert sign_in(third, password=new).status_code == 303


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("sessions/end", {"sid": "x"}),
        ("sessions/end-all", {}),
        ("apps/revoke", {"client_id": "x"}),
        ("password", {"current_password": "correct horse", "new_password": "n" * 12}),
        ("totp/remove", {}),
        ("recovery-codes", {}),
    ],
)
def test_every_account_form_refuses_a_missing_or_wrong_csrf_token(
    http: TestClient, grant: Grant, action: str, fields: dict[str, str], database: Database
) -> None:
    before = events(database)
    for token in (None, "forged", csrf_token_of(http.get("/login").text)):
        data = fields | ({"csrf_token": token} if token else {})
        refused = http.post(f"/account/{action}", data=data, follow_redirects=False)
        assert refused.status_code == 400, action
        assert "expired" in refused.text or "could not be read" in refused.text, action
    assert events(database) == before
    assert refresh(http, grant).status_code == 200
