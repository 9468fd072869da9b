"""prompt=select_account over HTTP (OIDC Core §3.1.2.1): the account page, its two answers,
and that the flow always ends (no page shown twice for one choice)."""

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import col, select

from authserver.audit.models import AuditEvent
from authserver.backchannel.models import OutboxMessage
from authserver.db import Database
from authserver.login.models import LoginSession
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import WEB_APP_REDIRECT_URI, make_user, make_web_app
from tests.flows import (
    Pkce,
    answer_consent,
    authorize_path,
    exchange_code,
    grant_for,
    hidden_fields,
    path_after_login,
    query_of,
    redirect_status,
    sign_in,
)
from tests.http.pages import assert_page_headers
from tests.http.tokens import basic, verified_id_token

SELECT = "OIDC Core §3.1.2.1 prompt=select_account"
CONTINUE_BUTTON = re.compile(
    r'<button type="submit" name="account" value="continue"[^>]*data-action="continue"'
)
SWITCH_BUTTON = re.compile(
    r'<button type="submit" name="account" value="switch"[^>]*data-action="use-another-account"'
)


@pytest.fixture
def users(database: Database) -> dict[str, User]:
    return {name: make_user(database, name) for name in ("alice", "bob")}


@pytest.fixture
def web_app(database: Database, users: dict[str, User]) -> tuple[str, str]:
    """A web app told of logouts by Back-Channel Logout, so a switch can be seen there."""
    client, secret = make_web_app(database, backchannel_logout_uri="https://app.example.test/bc")
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def client_id(web_app: tuple[str, str]) -> str:
    return web_app[0]


@pytest.fixture
def returning(http: TestClient, web_app: tuple[str, str]) -> TestClient:
    """A browser signed in as alice that approved `openid profile` for the web app: without
    select_account it gets a code at once, so every page below is the prompt's doing."""
    grant_for(http, *web_app)
    return http


def account_page(http: TestClient, client_id: str, pkce: Pkce, **params: str) -> Response:
    params = {"prompt": "select_account", **params}
    response = http.get(authorize_path(client_id, pkce, **params), follow_redirects=False)
    assert response.status_code == 200, (response.status_code, response.headers)
    assert CONTINUE_BUTTON.search(response.text), response.text
    return response


def answer(http: TestClient, page: Response, choice: str, **changes: str | None) -> Response:
    """POST the account page's form with the button `choice`; a change of None drops a field."""
    fields: dict[str, Any] = {**dict(hidden_fields(page.text)), "account": choice, **changes}
    data = {name: value for name, value in fields.items() if value is not None}
    return http.post("/authorize", data=data, follow_redirects=False)


def follow(http: TestClient, response: Response) -> Response:
    """The GET a browser makes for a 303 to this server."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(ISSUER + "/"), location
    return http.get(location.removeprefix(ISSUER), follow_redirects=False)


def assert_code(response: Response) -> str:
    """A code at the web app, with `state` and `iss` (RFC 6749 §4.1.2, RFC 9207)."""
    expected = redirect_status(response)
    assert response.status_code == expected, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(WEB_APP_REDIRECT_URI + "?")
    query = query_of(response)
    assert "error" not in query, query
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    return query["code"]


def id_token_for(
    http: TestClient, web_app: tuple[str, str], code: str, pkce: Pkce
) -> dict[str, Any]:
    tokens = exchange_code(http, *web_app, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    return verified_id_token(http, tokens.json()["id_token"], web_app[0])


def live_sessions(database: Database) -> list[LoginSession]:
    with database.transaction() as db:
        return list(db.exec(select(LoginSession).where(col(LoginSession.ended_at).is_(None))))


# --- the page ----------------------------------------------------------------------------


def test_select_account_with_a_session_shows_the_signed_in_account_and_two_buttons(
    returning: TestClient, client_id: str
) -> None:
    page = account_page(returning, client_id, Pkce())
    text = page.text
    assert page.headers["content-type"].startswith("text/html")
    assert_page_headers(page)
    assert '<strong class="account" data-account>alice</strong>' in text
    assert "Web App" in text
    assert SWITCH_BUTTON.search(text)
    # One form, posted to /authorize, with a CSRF token and every authorization parameter.
    assert text.count("<form") == 1 and '<form method="post" action="authorize"' in text
    fields = dict(hidden_fields(text))
    assert fields["csrf_token"] and fields["prompt"] == "select_account"
    assert fields["client_id"] == client_id and fields["redirect_uri"] == WEB_APP_REDIRECT_URI
    # Readable at 375 px (the viewport meta) and usable by keyboard: real submit buttons,
    # Continue first and focused, no script.
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert text.index('value="continue"') < text.index('value="switch"')
    assert re.search(r'value="continue"[^>]*autofocus>Continue</button>', text)
    assert "<script" not in text


def test_the_page_escapes_the_username(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    make_user(database, "<b>eve</b>")
    grant_for_user(http, web_app, "<b>eve</b>")
    text = account_page(http, web_app[0], Pkce()).text
    assert "<b>eve</b>" not in text
    assert "&lt;b&gt;eve&lt;/b&gt;" in text


def grant_for_user(http: TestClient, web_app: tuple[str, str], username: str) -> None:
    path = authorize_path(web_app[0])
    login = http.get(path, follow_redirects=False)
    assert sign_in(http, username, next_path=path_after_login(login)).status_code == 303
    consent = http.get(path, follow_redirects=False)
    assert_code(answer_consent(http, consent))


def test_discovery_lists_select_account(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    assert "select_account" in metadata["prompt_values_supported"], SELECT


# --- Continue ------------------------------------------------------------------------------


def test_continue_gives_a_code_for_the_same_account_without_showing_the_page_again(
    returning: TestClient, web_app: tuple[str, str], users: dict[str, User]
) -> None:
    pkce = Pkce()
    page = account_page(returning, web_app[0], pkce)
    continued = answer(returning, page, "continue")
    # A 303 back to /authorize (RFC 9700 §4.12), marked as answered for this session.
    location = continued.headers["location"]
    assert location.startswith(ISSUER + "/authorize?") and "account_chosen=" in location
    code = assert_code(follow(returning, continued))
    claims = id_token_for(returning, web_app, code, pkce)
    assert claims["sub"] == str(users["alice"].id)


def test_continue_leads_to_consent_and_the_consent_answer_gives_the_code(
    returning: TestClient, client_id: str
) -> None:
    """prompt=select_account consent: each page once, in that order (no loop)."""
    page = account_page(returning, client_id, Pkce(), prompt="select_account consent")
    consent = follow(returning, answer(returning, page, "continue"))
    assert consent.status_code == 200 and 'value="approve"' in consent.text
    assert 'value="continue"' not in consent.text
    assert_code(answer_consent(returning, consent))


def test_the_continue_marker_fits_only_its_parameters_and_its_browser(
    app: FastAPI, returning: TestClient, client_id: str
) -> None:
    page = account_page(returning, client_id, Pkce())
    way_back = answer(returning, page, "continue").headers["location"].removeprefix(ISSUER)
    other_state = way_back.replace("state=state-123", "state=state-456")
    shown = returning.get(other_state, follow_redirects=False)
    assert shown.status_code == 200 and CONTINUE_BUTTON.search(shown.text)
    # Another browser signed in as alice: its own secret and session, so the page again.
    with TestClient(app, base_url=ISSUER) as other:
        assert sign_in(other).status_code == 303
        shown = other.get(way_back, follow_redirects=False)
        assert shown.status_code == 200 and CONTINUE_BUTTON.search(shown.text)


# --- Use another account -------------------------------------------------------------------


def test_use_another_account_signs_out_then_continues_as_the_account_signed_in(
    returning: TestClient,
    database: Database,
    web_app: tuple[str, str],
    users: dict[str, User],
) -> None:
    client_id, secret = web_app
    before = grant_for(returning, *web_app)  # tokens of alice's session, to be revoked
    alice_sid = verified_id_token(returning, before.id_token, client_id)["sid"]
    pkce = Pkce()
    page = account_page(returning, client_id, pkce)

    switched = answer(returning, page, "switch")

    # To the login page, the session cookie deleted, the session ended as at /logout.
    assert switched.status_code == 303
    assert switched.headers["location"].startswith(ISSUER + "/login?")
    cleared = [c for c in switched.headers.get_list("set-cookie") if "authserver_session=" in c]
    assert len(cleared) == 1 and "Max-Age=0" in cleared[0], cleared
    assert live_sessions(database) == []
    with database.transaction() as db:
        ended = db.exec(select(AuditEvent).where(AuditEvent.event == "session.ended")).all()
        told = db.exec(select(OutboxMessage).where(OutboxMessage.sid == alice_sid)).all()
    assert [json.loads(e.details) for e in ended] == [
        {"sid": alice_sid, "reason": "use another account"}
    ]
    assert [m.client_id for m in told] == [client_id]  # Back-Channel Logout 1.0 §2.7
    refreshed = returning.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": before.refresh_token},
        headers=basic(client_id, secret),
    )
    assert refreshed.json()["error"] == "invalid_grant"

    # Signing in as bob leads back: bob's consent, then a code for bob; no account page.
    next_path = path_after_login(switched)
    assert sign_in(returning, "bob", next_path=next_path).status_code == 303
    consent = returning.get(next_path, follow_redirects=False)
    assert consent.status_code == 200 and 'value="approve"' in consent.text
    assert ">bob<" in consent.text
    code = assert_code(answer_consent(returning, consent))
    assert id_token_for(returning, web_app, code, pkce)["sub"] == str(users["bob"].id)


def test_use_another_account_then_the_same_account_continues_without_the_page(
    returning: TestClient, web_app: tuple[str, str], users: dict[str, User]
) -> None:
    pkce = Pkce()
    switched = answer(returning, account_page(returning, web_app[0], pkce), "switch")
    next_path = path_after_login(switched)
    assert sign_in(returning, "alice", next_path=next_path).status_code == 303
    code = assert_code(returning.get(next_path, follow_redirects=False))
    assert id_token_for(returning, web_app, code, pkce)["sub"] == str(users["alice"].id)


def test_without_a_session_select_account_leads_to_sign_in_and_then_continues(
    http: TestClient, client_id: str
) -> None:
    response = http.get(authorize_path(client_id, prompt="select_account"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(ISSUER + "/login?")
    next_path = path_after_login(response)
    assert sign_in(http, next_path=next_path).status_code == 303
    consent = http.get(next_path, follow_redirects=False)
    assert consent.status_code == 200 and 'value="approve"' in consent.text
    assert_code(answer_consent(http, consent))


def test_an_answer_after_the_session_ended_leads_to_sign_in(
    returning: TestClient, client_id: str
) -> None:
    page = account_page(returning, client_id, Pkce())
    returning.cookies.delete("authserver_session")
    for choice in ("continue", "switch"):
        response = answer(returning, page, choice)
        assert response.status_code == 303, choice
        assert response.headers["location"].startswith(ISSUER + "/login?"), choice


# --- refusals ------------------------------------------------------------------------------


def test_prompt_none_with_select_account_is_invalid_request(
    http: TestClient, returning: TestClient, client_id: str
) -> None:
    """OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error
    is returned"; the redirect_uri is verified, so it goes there (RFC 6749 §4.1.2.1)."""
    for prompt in ("none select_account", "select_account none"):
        response = returning.get(authorize_path(client_id, prompt=prompt), follow_redirects=False)
        assert response.status_code == 302
        query = query_of(response)
        assert query["error"] == "invalid_request", query
        assert query["state"] == "state-123" and query["iss"] == ISSUER
        assert "code" not in query


CSRF_CHANGES: dict[str, dict[str, str | None]] = {
    "missing": {"csrf_token": None},
    "empty": {"csrf_token": ""},
    "wrong": {"csrf_token": "x" * 43},
    "non-ascii": {"csrf_token": "\u00e9" * 43},
    "of other parameters": {"state": "state-456"},
}


@pytest.mark.parametrize("choice", ["continue", "switch"])
@pytest.mark.parametrize("changes", CSRF_CHANGES.values(), ids=CSRF_CHANGES.keys())
def test_an_answer_without_its_csrf_token_gets_an_error_page_and_changes_nothing(
    returning: TestClient,
    database: Database,
    client_id: str,
    choice: str,
    changes: dict[str, str | None],
) -> None:
    """RFC 9700 §4.7 (CSRF): a page on another site cannot continue or sign anyone out."""
    page = account_page(returning, client_id, Pkce())
    response = answer(returning, page, choice, **changes)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "This page expired" in response.text
    assert_page_headers(response)
    assert len(live_sessions(database)) == 1


def test_an_answer_from_another_browser_gets_an_error_page(
    app: FastAPI, returning: TestClient, client_id: str
) -> None:
    page = account_page(returning, client_id, Pkce())
    with TestClient(app, base_url=ISSUER) as other:
        assert sign_in(other).status_code == 303
        response = answer(other, page, "switch")
    assert response.status_code == 400 and "This page expired" in response.text


def test_an_unknown_choice_gets_an_error_page(returning: TestClient, client_id: str) -> None:
    page = account_page(returning, client_id, Pkce())
    response = answer(returning, page, "somebody-else")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers


def test_an_answer_with_an_unregistered_redirect_uri_gets_an_error_page(
    returning: TestClient, client_id: str
) -> None:
    """RFC 6749 §4.1.2.1: verified again before anything else, never redirected to."""
    page = account_page(returning, client_id, Pkce())
    for choice in ("continue", "switch"):
        response = answer(returning, page, choice, redirect_uri="https://evil.test/callback")
        assert response.status_code == 400, choice
        assert "location" not in response.headers
        assert "redirect URI" in response.text
