"""RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3) at /logout."""

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from tests.factories import WEB_APP_LOGOUT_URI, make_client, make_user, make_web_app
from tests.flows import (
    Pkce,
    authorize_path,
    code_of,
    csrf_token_of,
    exchange_code,
    query_of,
    sign_in,
)


class SignedIn:
    def __init__(self, http: TestClient, database: Database) -> None:
        client, secret = make_web_app(database)
        introspector, introspector_secret = make_client(database, can_introspect=True)
        assert secret is not None and introspector_secret is not None
        make_user(database)
        self.http, self.client_id, self.secret = http, client.client_id, secret
        self.introspector = (introspector.client_id, introspector_secret)
        pkce = Pkce()
        code = code_of(http, self.client_id, pkce, scope="openid profile")
        self.tokens = exchange_code(http, self.client_id, secret, code, pkce.verifier).json()

    def session_is_alive(self) -> bool:
        response = self.http.get(authorize_path(self.client_id), follow_redirects=False)
        return response.status_code == 302 and "code=" in response.headers["location"]

    def refresh_works(self) -> bool:
        data = {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]}
        return self.http.post("/token", data=data, auth=(self.client_id, self.secret)).is_success

    def access_token_active(self) -> bool:
        data = {"token": self.tokens["access_token"]}
        return self.http.post("/introspect", data=data, auth=self.introspector).json()["active"]


@pytest.fixture
def signed_in(http: TestClient, database: Database) -> SignedIn:
    return SignedIn(http, database)


def test_a_valid_hint_ends_the_session_and_returns_to_the_registered_uri_with_state(
    signed_in: SignedIn,
) -> None:
    assert signed_in.session_is_alive()
    response = signed_in.http.get(
        "/logout",
        params={
            "id_token_hint": signed_in.tokens["id_token"],
            "post_logout_redirect_uri": WEB_APP_LOGOUT_URI,
            "state": "bye-1",
        },
        follow_redirects=False,
    )
    # RP-Initiated Logout §3: to the registered post_logout_redirect_uri, state echoed.
    assert response.status_code == 303
    assert response.headers["location"].startswith(WEB_APP_LOGOUT_URI + "?")
    assert query_of(response)["state"] == "bye-1"
    assert not signed_in.session_is_alive()


def test_logout_revokes_what_the_session_gave_out(signed_in: SignedIn) -> None:
    assert signed_in.access_token_active()
    signed_in.http.get("/logout", params={"id_token_hint": signed_in.tokens["id_token"]})
    # The session's token families end with it: refresh and access tokens alike.
    assert not signed_in.refresh_works()
    assert not signed_in.access_token_active()


def test_an_unregistered_post_logout_uri_is_never_followed(signed_in: SignedIn) -> None:
    response = signed_in.http.get(
        "/logout",
        params={
            "id_token_hint": signed_in.tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example.test/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert "signed out" in response.text
    assert "location" not in response.headers


def test_without_a_hint_the_user_confirms_with_a_csrf_protected_post(signed_in: SignedIn) -> None:
    page = signed_in.http.get("/logout")
    # CONTRACT.md: a confirmation page whose button is <button name="decision" value="logout">.
    assert page.status_code == 200
    assert 'name="decision" value="logout"' in page.text
    assert signed_in.session_is_alive()
    forged = signed_in.http.post("/logout", data={"decision": "logout"})
    assert forged.status_code == 200 and 'value="logout"' in forged.text
    assert signed_in.session_is_alive()
    confirmed = signed_in.http.post(
        "/logout", data={"decision": "logout", "csrf_token": csrf_token_of(page.text)}
    )
    assert confirmed.status_code == 200
    assert not signed_in.session_is_alive()
    assert not signed_in.refresh_works()


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "access_token"])
def test_an_invalid_hint_only_asks_for_confirmation_and_never_redirects(
    signed_in: SignedIn, hint: str
) -> None:
    # SECURITY-CHECKLIST: an access token as id_token_hint is invalid (RFC 8725 §3.11).
    value = signed_in.tokens["access_token"] if hint == "access_token" else hint
    params = {"id_token_hint": value, "post_logout_redirect_uri": WEB_APP_LOGOUT_URI}
    page = signed_in.http.get("/logout", params=params)
    assert page.status_code == 200
    assert 'name="decision" value="logout"' in page.text
    assert "Content-Security-Policy" in page.headers
    assert signed_in.session_is_alive()
    confirmed = signed_in.http.post(
        "/logout",
        data={"decision": "logout", "csrf_token": csrf_token_of(page.text), **params},
        follow_redirects=False,
    )
    # The hint could not vouch for the client: signed out, but no redirect on its word.
    assert confirmed.status_code == 200
    assert "location" not in confirmed.headers
    assert not signed_in.session_is_alive()


def test_a_hint_for_another_session_asks_for_confirmation(
    signed_in: SignedIn, http: TestClient, database: Database
) -> None:
    old_hint = signed_in.tokens["id_token"]
    # Another user signs in in this browser: the old hint names a session it no longer has.
    make_user(database, "bob", "bob's password")
    http.cookies.clear()
    first = http.get(authorize_path(signed_in.client_id), follow_redirects=False)
    assert sign_in(http, "bob", "bob's password", query_of(first)["next"]).status_code == 303
    response = http.get("/logout", params={"id_token_hint": old_hint})
    assert 'value="logout"' in response.text
    assert "You are signed in" in http.get("/login").text


def test_a_code_issued_before_logout_cannot_be_exchanged_after_it(
    http: TestClient, database: Database
) -> None:
    client, secret = make_web_app(database)
    make_user(database)
    assert secret is not None
    pkce = Pkce()
    code = code_of(http, client.client_id, pkce)
    page = http.get("/logout")
    http.post("/logout", data={"decision": "logout", "csrf_token": csrf_token_of(page.text)})
    # The session's grants end with it, including a code still in flight.
    response = exchange_code(http, client.client_id, secret, code, pkce.verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
