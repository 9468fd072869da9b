"""login_hint, ui_locales and claims_locales at /authorize (OIDC Core §3.1.2.1, §5.2): hints
that shape a page at most, and never who gets a code."""

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_user
from tests.flows import (
    Pkce,
    answer_consent,
    authorize_path,
    code_of,
    exchange_code,
    path_after_login,
    query_of,
    sign_in,
)
from tests.http.pages import assert_page_headers
from tests.http.tokens import verified_id_token

HINT = "OIDC Core §3.1.2.1 login_hint"
_USERNAME_INPUT = re.compile(r'<input id="username" name="username"[^>]*>', re.S)


def login_page_for(http: TestClient, client_id: str, **params: str) -> Response:
    """The login page /authorize sends a browser without a session to."""
    response = http.get(authorize_path(client_id, **params), follow_redirects=False)
    assert response.status_code == 303
    page = http.get("/login", params={"next": path_after_login(response)})
    assert page.status_code == 200
    return page


def username_input(page: Response) -> str:
    found = _USERNAME_INPUT.search(page.text)
    assert found, page.text
    return found.group(0)


def test_login_hint_is_the_username_inputs_initial_value(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    page = login_page_for(http, web_app[0], login_hint="alice")
    field = username_input(page)
    assert 'value="alice"' in field, HINT
    # The password input takes the focus instead (the same as after a failed sign-in).
    assert "autofocus" not in field
    assert re.search(r'<input id="password"[^>]*autofocus', page.text, re.S)
    assert_page_headers(page)


def test_a_login_hint_is_escaped(http: TestClient, web_app: tuple[str, str]) -> None:
    hint = '"><script>alert(1)</script><input value="'
    page = login_page_for(http, web_app[0], login_hint=hint)
    assert "<script>" not in page.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;' in username_input(page)


HINTS_NOT_USED = {
    "longer than a username": "a" * 151,
    "a control character": "alice\nbob",
    "repeated": None,
}


@pytest.mark.parametrize("hint", HINTS_NOT_USED.values(), ids=HINTS_NOT_USED.keys())
def test_a_login_hint_that_cannot_be_a_username_is_not_used(
    http: TestClient, web_app: tuple[str, str], hint: str | None
) -> None:
    if hint is None:
        # A repeated parameter is refused at /authorize (RFC 6749 §3.1); the login page
        # does not pick one of two hints in a `next` either.
        path = authorize_path(web_app[0]) + "&login_hint=alice&login_hint=bob"
        page = http.get("/login", params={"next": path})
    else:
        page = login_page_for(http, web_app[0], login_hint=hint)
    field = username_input(page)
    assert 'value=""' in field and "autofocus" in field


def test_a_login_hint_decides_nothing_about_the_account(
    http: TestClient, database: Database, web_app: tuple[str, str], user: User
) -> None:
    """The hint only fills the input: signing in as someone else gets that user's code."""
    bob = make_user(database, "bob")
    pkce = Pkce()
    path = authorize_path(web_app[0], pkce, scope="openid", login_hint="alice")
    login = http.get(path, follow_redirects=False)
    assert sign_in(http, "bob", next_path=path_after_login(login)).status_code == 303
    code = query_of(answer_consent(http, http.get(path, follow_redirects=False)))["code"]
    tokens = exchange_code(http, *web_app, code, pkce.verifier).json()
    assert verified_id_token(http, tokens["id_token"], web_app[0])["sub"] == str(bob.id)
    # bob's session answers a request hinting at alice, silently, for bob.
    pkce = Pkce()
    hinted = authorize_path(web_app[0], pkce, scope="openid", login_hint="alice", prompt="none")
    code = query_of(http.get(hinted, follow_redirects=False))["code"]
    tokens = exchange_code(http, *web_app, code, pkce.verifier).json()
    assert verified_id_token(http, tokens["id_token"], web_app[0])["sub"] == str(bob.id), HINT


def test_ui_locales_and_claims_locales_are_accepted_and_the_pages_stay_english(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    """OIDC Core §3.1.2.1 ui_locales, §5.2 claims_locales: preferences, not requirements;
    the pages exist only in English, and claims have no language variants here."""
    locales = {"ui_locales": "fr-CA fr en", "claims_locales": "de ja"}
    page = login_page_for(http, web_app[0], **locales)
    assert '<html lang="en">' in page.text
    code_of(http, web_app[0], Pkce(), **locales)  # signs in and consents
    response = http.get(authorize_path(web_app[0], **locales), follow_redirects=False)
    query = query_of(response)
    assert "code" in query and query["iss"] == ISSUER, query
