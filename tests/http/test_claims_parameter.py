"""The `claims` request parameter over HTTP (OIDC Core §5.5, §5.5.1): claims asked for one by
one reach the id_token or /userinfo as asked, are remembered with the code and the token
family, and a malformed value is `invalid_request` at the redirect_uri."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from authserver.db import Database
from authserver.tokens.models import AuthorizationCode, TokenFamily
from authserver.users.models import User
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository
from tests.conftest import ISSUER
from tests.factories import make_user, make_web_app
from tests.flows import Grant, Pkce, authorize, authorize_path, exchange_code, query_of, sign_in
from tests.flows import path_after_login as login_next
from tests.http.tokens import basic, claims_of, verified_id_token

CLAIMS = "OIDC Core §5.5"
INDIVIDUAL = "OIDC Core §5.5.1"
# Registered claims every id_token carries (OIDC Core §2), whatever `claims` asks for.
ID_TOKEN_BASE = {"iss", "sub", "aud", "exp", "iat", "auth_time", "at_hash", "sid", "amr"}


@pytest.fixture
def alice(database: Database) -> User:
    return make_user(database)


@pytest.fixture
def web_app(database: Database, alice: User) -> tuple[str, str]:
    """Registered for `openid profile email orders:read` (tests.factories.make_web_app)."""
    client, secret = make_web_app(database)
    assert secret is not None
    return client.client_id, secret


def claims_grant(
    http: TestClient,
    web_app: tuple[str, str],
    claims: dict[str, Any] | str,
    scope: str = "openid",
    username: str = "alice",
) -> Grant:
    """The token response of a code flow with `claims` (signing in and consenting if asked)."""
    value = claims if isinstance(claims, str) else json.dumps(claims)
    pkce = Pkce()
    response = authorize(http, web_app[0], pkce, scope=scope, claims=value, username=username)
    query = query_of(response)
    assert "code" in query, query
    tokens = exchange_code(http, *web_app, query["code"], pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    return Grant(*web_app, tokens.json())


def userinfo_of(http: TestClient, access_token: str) -> dict[str, Any]:
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    return response.json()


def id_token_of(http: TestClient, grant: Grant) -> dict[str, Any]:
    return verified_id_token(http, grant.id_token, grant.client_id)


# --- where the claims go -------------------------------------------------------------------


def test_claims_asked_for_the_id_token_are_in_the_id_token_and_not_at_userinfo(
    http: TestClient, web_app: tuple[str, str], alice: User
) -> None:
    """§5.5 `id_token`: "the listed individual Claims be returned in the ID Token", added
    to the default ones, even though the scope (`openid`) would release none of them."""
    asked = {"id_token": {"email": {"essential": True}, "preferred_username": None}}
    grant = claims_grant(http, web_app, asked)
    id_token = id_token_of(http, grant)
    assert set(id_token) == ID_TOKEN_BASE | {"email", "preferred_username"}, CLAIMS
    assert id_token["email"] == "alice@example.test"
    assert id_token["preferred_username"] == "alice"
    assert id_token["sub"] == str(alice.id)
    # The granted scope is what was asked; the claims parameter does not widen it.
    assert grant.body["scope"] == "openid"
    assert claims_of(grant.access_token)["scope"] == "openid"
    assert userinfo_of(http, grant.access_token) == {"sub": str(alice.id)}


def test_claims_asked_for_userinfo_are_at_userinfo_and_not_in_the_id_token(
    http: TestClient, web_app: tuple[str, str], alice: User
) -> None:
    """§5.5 `userinfo`: "added to any Claims that are being requested using scope values"."""
    grant = claims_grant(http, web_app, {"userinfo": {"email": None, "name": None}})
    assert userinfo_of(http, grant.access_token) == {
        "sub": str(alice.id),
        "email": "alice@example.test",
        "name": "alice",
    }, CLAIMS
    assert set(id_token_of(http, grant)) == ID_TOKEN_BASE


def test_claims_asked_for_are_added_to_those_of_the_scope(
    http: TestClient, web_app: tuple[str, str], alice: User
) -> None:
    asked = {"userinfo": {"email_verified": None}, "id_token": {"name": None}}
    grant = claims_grant(http, web_app, asked, scope="openid profile")
    answer = userinfo_of(http, grant.access_token)
    assert answer["email_verified"] is False and "email" not in answer
    assert {"preferred_username", "name", "updated_at"} <= set(answer)
    assert set(id_token_of(http, grant)) == ID_TOKEN_BASE | {"name"}


def test_the_family_remembers_the_userinfo_claims_across_refreshes(
    http: TestClient, web_app: tuple[str, str], alice: User
) -> None:
    """The claims belong to the authorization: every access token of its family, refreshed
    ones included, gets them at /userinfo (and only those of that family)."""
    grant = claims_grant(http, web_app, {"userinfo": {"email": None}})
    refreshed = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": grant.refresh_token},
        headers=basic(*web_app),
    )
    assert refreshed.status_code == 200, refreshed.text
    expected = {"sub": str(alice.id), "email": "alice@example.test"}
    assert userinfo_of(http, refreshed.json()["access_token"]) == expected
    plain = claims_grant(http, web_app, {})
    assert userinfo_of(http, plain.access_token) == {"sub": str(alice.id)}


def test_only_the_known_claim_names_are_stored_with_the_code_and_the_family(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    asked = {
        "id_token": {"email": None, "acr": {"essential": True}, "auth_time": None},
        "userinfo": {"name": {"essential": True, "value": "x"}, "picture": None},
        "other": {"ignored": True},
    }
    claims_grant(http, web_app, asked)
    stored = {"id_token": ["email"], "userinfo": ["name"]}
    with database.transaction() as db:
        assert [c.requested_claims for c in db.exec(select(AuthorizationCode))] == [stored]
        assert [f.requested_claims for f in db.exec(select(TokenFamily))] == [stored]


# --- what is ignored, declined or left out -------------------------------------------------

# (the claims value, the claims then in the id_token beyond the registered ones)
IGNORED: dict[str, tuple[dict[str, Any] | str, dict[str, Any]]] = {
    "empty object": ({}, {}),
    "unknown top-level member": ({"verified_claims": {"x": 1}}, {}),
    "empty members": ({"userinfo": {}, "id_token": {}}, {}),
    "unknown claims": ({"id_token": {"picture": None, "https://example.test/role": None}}, {}),
    "a lone surrogate as a claim name": ('{"id_token": {"\\ud800": null}}', {}),
    "unknown members of a claim request": (
        {"id_token": {"email": {"purpose": "x", "n": 1}}},
        {"email": "alice@example.test"},
    ),
    "value and values": (
        {"id_token": {"email": {"value": "a@b", "values": ["a", "b"]}}},
        {"email": "alice@example.test"},
    ),
    "claims we always send": ({"id_token": {"auth_time": {"essential": True}}}, {}),
}


@pytest.mark.parametrize(("asked", "extra"), IGNORED.values(), ids=IGNORED.keys())
def test_members_and_claims_not_understood_are_ignored(
    http: TestClient, web_app: tuple[str, str], asked: dict[str, Any] | str, extra: dict[str, Any]
) -> None:
    """§5.5 and §5.5.1: "Any members used that are not understood MUST be ignored"; a
    claim's `value`/`values` change nothing here: the user's own value is sent."""
    id_token = id_token_of(http, claims_grant(http, web_app, asked))
    assert {name: id_token[name] for name in set(id_token) - ID_TOKEN_BASE} == extra


def test_a_claim_the_user_does_not_have_is_left_out_without_an_error(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    """§5.5.1: not an error, "whether they are Essential or Voluntary"."""
    with database.transaction() as db:
        create_user(UserRepository(db), "noemail", "correct horse", None)
    essential = {"essential": True}
    asked = {"userinfo": {"email": essential}, "id_token": {"email": essential, "name": None}}
    grant = claims_grant(http, web_app, asked, username="noemail")
    assert set(id_token_of(http, grant)) == ID_TOKEN_BASE | {"name"}
    assert set(userinfo_of(http, grant.access_token)) == {"sub"}


def test_a_claim_of_a_scope_the_client_is_not_registered_for_is_declined(
    http: TestClient, database: Database, alice: User
) -> None:
    """Our choice (§5.5 lets the server decline): `claims` never gives a client more than
    the scopes it is registered for would; the consent page does not ask for them."""
    client, secret = make_web_app(database, scope="openid profile")
    assert secret is not None
    asked = {"id_token": {"email": None, "name": None}, "userinfo": {"email": None}}
    path = authorize_path(client.client_id, scope="openid", claims=json.dumps(asked))
    login = http.get(path, follow_redirects=False)
    assert sign_in(http, next_path=login_next(login)).status_code == 303
    consent = http.get(path, follow_redirects=False)
    assert ">profile<" in consent.text and ">email<" not in consent.text
    grant = claims_grant(http, (client.client_id, secret), asked)
    assert set(id_token_of(http, grant)) == ID_TOKEN_BASE | {"name"}
    assert userinfo_of(http, grant.access_token) == {"sub": str(alice.id)}


# --- consent covers them -------------------------------------------------------------------


def test_claims_of_a_scope_not_yet_approved_ask_for_consent(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    """Consent covers what is released: `openid` approved before, `email` asked through
    `claims` shows the consent page again (and prompt=none is consent_required)."""
    claims_grant(http, web_app, {})  # approves `openid`
    asked = json.dumps({"userinfo": {"email": None}})
    silent = http.get(
        authorize_path(web_app[0], scope="openid", claims=asked, prompt="none"),
        follow_redirects=False,
    )
    assert query_of(silent)["error"] == "consent_required"
    page = http.get(authorize_path(web_app[0], scope="openid", claims=asked))
    assert page.status_code == 200 and 'value="approve"' in page.text
    assert ">email<" in page.text and "See your email address" in page.text
    claims_grant(http, web_app, asked)  # approves `email` as well
    again = http.get(
        authorize_path(web_app[0], scope="openid", claims=asked, prompt="none"),
        follow_redirects=False,
    )
    assert "code" in query_of(again)


# --- a `sub` value for the id_token (§5.5.1) -----------------------------------------------


def test_a_sub_value_naming_the_signed_in_user_gets_a_code(
    http: TestClient, web_app: tuple[str, str], alice: User
) -> None:
    claims_grant(http, web_app, {})
    asked = {"id_token": {"sub": {"value": str(alice.id)}}}
    grant = claims_grant(http, web_app, asked)
    assert id_token_of(http, grant)["sub"] == str(alice.id)


def test_a_sub_value_naming_another_user_never_answers_for_the_signed_in_one(
    http: TestClient, database: Database, web_app: tuple[str, str], alice: User
) -> None:
    """§5.5.1: "MUST NOT reply with an ID Token or Access Token for a different user, even
    if they have an active session". So: login_required with prompt=none; else a sign-in;
    then a code only for the user named, access_denied for anyone else."""
    bob = make_user(database, "bob")
    claims_grant(http, web_app, {})  # alice signed in, `openid` approved
    asked = json.dumps({"id_token": {"sub": {"value": str(bob.id)}}})
    silent = http.get(
        authorize_path(web_app[0], scope="openid", claims=asked, prompt="none"),
        follow_redirects=False,
    )
    assert query_of(silent)["error"] == "login_required", INDIVIDUAL
    login = http.get(
        authorize_path(web_app[0], scope="openid", claims=asked), follow_redirects=False
    )
    assert login.status_code == 303 and login.headers["location"].startswith(ISSUER + "/login?")
    next_path = login_next(login)
    assert sign_in(http, "alice", next_path=next_path).status_code == 303
    refused = query_of(http.get(next_path, follow_redirects=False))
    assert refused["error"] == "access_denied" and "code" not in refused, INDIVIDUAL
    grant = claims_grant(http, web_app, asked, username="bob")
    assert id_token_of(http, grant)["sub"] == str(bob.id)


# --- malformed values: invalid_request at the redirect_uri ---------------------------------

MALFORMED = {
    "not JSON": "email",
    "truncated JSON": '{"userinfo": {"email": null}',
    "a JSON array": '["email"]',
    "a JSON string": '"email"',
    "JSON null": "null",
    "a number": "1",
    "userinfo an array": '{"userinfo": ["email"]}',
    "id_token a string": '{"id_token": "email"}',
    "userinfo null": '{"userinfo": null}',
    "a claim request that is a number": '{"userinfo": {"email": 1}}',
    "a claim request that is a string": '{"id_token": {"email": "essential"}}',
    "essential not a boolean": '{"id_token": {"email": {"essential": "true"}}}',
    "values not an array": '{"userinfo": {"email": {"values": "a@b"}}}',
    "a sub value that is not a string": '{"id_token": {"sub": {"value": 42}}}',
    "a repeated member": '{"userinfo": {"email": null}, "userinfo": {}}',
    "a repeated claim": '{"userinfo": {"email": null, "email": {"essential": true}}}',
    "NaN": '{"userinfo": {"email": {"value": NaN}}}',
    # Within the length cap, deeper than the JSON parser's recursion limit.
    "deeply nested": '{"userinfo": {"email": {"value": ' + "[" * 2000 + "]" * 2000 + "}}}",
    "too long": json.dumps({"userinfo": {f"claim{i}": None for i in range(400)}}),
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("signed_in", [False, True], ids=["no session", "session"])
def test_a_malformed_claims_parameter_is_invalid_request_at_the_redirect_uri(
    http: TestClient, web_app: tuple[str, str], value: str, signed_in: bool
) -> None:
    """§5.5: a JSON object; RFC 6749 §4.1.2.1: the client and redirect_uri are verified,
    so the error goes there, with `state` and `iss` (RFC 9207)."""
    if signed_in:
        claims_grant(http, web_app, {})
    response = http.get(authorize_path(web_app[0], claims=value), follow_redirects=False)
    assert response.status_code == 302, (response.status_code, response.text[:200])
    assert response.headers["location"].startswith("https://app.example.test/callback?")
    query = query_of(response)
    assert query["error"] == "invalid_request", query
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    assert "code" not in query
    assert '"' not in query["error_description"] and "\\" not in query["error_description"]


def test_an_empty_claims_parameter_counts_as_omitted(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    """RFC 6749 §3.1: a parameter without a value is treated as omitted."""
    claims_grant(http, web_app, {})
    response = http.get(
        authorize_path(web_app[0], scope="openid", claims=""), follow_redirects=False
    )
    assert "code" in query_of(response)


def test_discovery_says_the_claims_parameter_is_supported(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    assert metadata["claims_parameter_supported"] is True
    # OIDC Discovery 1.0 §3: the claims we can supply, all of those `claims` may ask for.
    user_claims = {"preferred_username", "name", "updated_at", "email", "email_verified"}
    assert user_claims <= set(metadata["claims_supported"])
