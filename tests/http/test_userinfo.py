"""UserInfo over HTTP: claims by scope (OIDC Core §5.3), bearer errors (RFC 6750 §3)."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authserver.db import Database
from authserver.users.models import User
from tests.factories import make_client
from tests.flows import Grant, grant_for
from tests.http.tokens import claims_of, request_token, server_key, sign_rs256, with_claims


@pytest.fixture
def authorize_for(http: TestClient, web_app: tuple[str, str]) -> Callable[[str], Grant]:
    """The token response of the code flow, with `scope` requested and approved."""

    def authorize(scope: str) -> Grant:
        grant = grant_for(http, *web_app, scope=scope)
        assert grant.body["scope"] == scope
        return grant

    return authorize


@pytest.fixture
def grant(authorize_for: Callable[[str], Grant]) -> Grant:
    return authorize_for("openid profile email")


def userinfo(http: TestClient, token: str | None, method: str = "GET") -> Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.request(method, "/userinfo", headers=headers)


def assert_bearer_error(response: Response, status: int, error: str) -> None:
    """RFC 6750 §3.1: `status` with a Bearer challenge naming `error`."""
    assert response.status_code == status, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'error="{error}"' in challenge
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(response.content)["error"] == error


def assert_invalid_token(response: Response) -> None:
    """RFC 6750 §3.1: 401 with a Bearer challenge naming `invalid_token`."""
    assert_bearer_error(response, 401, "invalid_token")


def resigned(http: TestClient, token: str, **changes: Any) -> str:
    """`token` with `changes` to its claims, signed as the server signs access tokens."""
    return sign_rs256(with_claims(claims_of(token), **changes), server_key(http))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_token_with_openid_profile_email_gets_those_claims(
    http: TestClient, grant: Grant, user: User, method: str
) -> None:
    response = userinfo(http, grant.access_token, method)

    # OIDC Core §5.3.2: a JSON object of the user's claims, by the granted scope (§5.4).
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["sub"] == str(user.id)
    # OIDC Core §5.3.2: `sub` MUST match the id_token's `sub` exactly.
    assert body["sub"] == claims_of(grant.body["id_token"])["sub"]
    assert body["preferred_username"] == "alice"
    assert body["email"] == "alice@example.test"


def test_a_token_with_only_openid_gets_only_sub(
    http: TestClient, authorize_for: Callable[[str], Grant], user: User
) -> None:
    response = userinfo(http, authorize_for("openid").access_token)

    # OIDC Core §5.4: profile and email claims need their scopes; `sub` is always there.
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": str(user.id)}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(http: TestClient, grant: Grant, scheme: str) -> None:
    # RFC 6750 §2.1 with RFC 9110 §11.1: the auth-scheme is case-insensitive.
    response = http.get("/userinfo", headers={"Authorization": f"{scheme} {grant.access_token}"})
    assert response.status_code == 200, response.text


def test_a_request_without_a_token_gets_a_bare_bearer_challenge(http: TestClient) -> None:
    response = userinfo(http, None)

    # RFC 6750 §3.1: no authentication information, so the challenge names no error code.
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer", "Token abc"],
)
def test_an_authorization_header_without_a_bearer_token_gets_a_bare_challenge(
    http: TestClient, authorization: str
) -> None:
    # RFC 6750 §2.1, §3.1: no bearer token was presented at all.
    response = http.get("/userinfo", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["garbage", "not.a.jwt", "A" * 5000, "e." * 2 + "e"])
def test_a_garbage_token_is_401_invalid_token(http: TestClient, token: str) -> None:
    # RFC 6750 §3.1: a malformed token is invalid_token.
    assert_invalid_token(userinfo(http, token))


def test_an_id_token_is_not_a_bearer_token(http: TestClient, grant: Grant) -> None:
    # RFC 8725 §3.11, RFC 9068 §2.1: an id_token (typ JWT) is no access token.
    assert_invalid_token(userinfo(http, grant.body["id_token"]))


@pytest.mark.parametrize("sub_like_a_user", [False, True], ids=["random", "equal to a user id"])
def test_a_client_credentials_token_is_refused_even_with_openid_scope(
    http: TestClient, database: Database, user: User, sub_like_a_user: bool
) -> None:
    # OIDC Core §5.3: UserInfo returns claims about an end-user; a client_credentials
    # token has none (RFC 9068 §2.2: its sub is the client). RFC 9068 §5: a client whose
    # client_id equals a user's sub must not be taken for that user.
    fields = {"client_id": str(user.id)} if sub_like_a_user else {}
    client, secret = make_client(database, scope="openid orders:read", **fields)
    assert secret is not None
    response = request_token(http, client.client_id, secret, scope="openid")
    assert response.status_code == 200, response.text

    assert_invalid_token(userinfo(http, response.json()["access_token"]))


def test_a_token_without_openid_scope_is_403_insufficient_scope(
    http: TestClient, authorize_for: Callable[[str], Grant]
) -> None:
    token = authorize_for("orders:read").access_token
    response = userinfo(http, token)

    # RFC 6750 §3.1: a valid token lacking the scope is 403 insufficient_scope.
    assert_bearer_error(response, 403, "insufficient_scope")


FORGERIES: dict[str, dict[str, Any]] = {
    "expired an hour ago": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4500},
    "another issuer": {"iss": "https://evil.example.test"},
    "issued an hour ahead": {"iat": int(time.time()) + 3600},
    "not yet valid for an hour": {"nbf": int(time.time()) + 3600},
}


@pytest.mark.parametrize("changes", FORGERIES.values(), ids=FORGERIES.keys())
def test_an_expired_or_foreign_token_signed_by_our_key_is_401(
    http: TestClient, grant: Grant, changes: dict[str, Any]
) -> None:
    # RFC 6750 §3.1: an expired token is invalid_token (RFC 7519 §4.1.4, §4.1.5: exp, nbf);
    # RFC 8725 §3.8: iss exact; SECURITY-CHECKLIST: iat at most 60 s ahead.
    assert_invalid_token(userinfo(http, resigned(http, grant.access_token, **changes)))


def test_a_token_past_its_exp_is_refused_as_introspection_calls_it_inactive(
    http: TestClient, grant: Grant
) -> None:
    """SECURITY-CHECKLIST: one rule decides validity for introspection and userinfo.

    The server checks its own token against its own clock, so no clock-skew leeway is
    owed here (RFC 7519 §4.1.4 allows it only "to account for clock skew").
    """
    now = int(time.time())
    token = resigned(http, grant.access_token, exp=now - 30, iat=now - 930)
    form = {"token": token}
    introspected = http.post("/introspect", data=form, **grant.auth)
    assert introspected.json() == {"active": False}

    # RFC 6750 §3.1: an expired token is invalid_token.
    assert_invalid_token(userinfo(http, token))


def test_a_token_re_signed_unchanged_with_our_key_is_accepted(
    http: TestClient, grant: Grant
) -> None:
    """The control for the forgeries above: only the claim each one changes is refused."""
    assert userinfo(http, resigned(http, grant.access_token)).status_code == 200


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_revoked_token_is_401(http: TestClient, grant: Grant, kind: str) -> None:
    # RFC 7009 §2: a revoked access token (or its revoked family) is no longer accepted.
    form = {"token": grant.body[kind]}
    revoked = http.post("/revoke", data=form, **grant.auth)
    assert revoked.status_code == 200

    assert_invalid_token(userinfo(http, grant.access_token))


def test_a_disabled_users_token_is_401(http: TestClient, database: Database, grant: Grant) -> None:
    # CONTRACT.md `users disable`: the user's tokens stop working; RFC 6750 §3.1.
    with database.transaction() as session:
        user = session.get(User, int(claims_of(grant.access_token)["sub"]))
        assert user is not None
        user.disabled = True

    assert_invalid_token(userinfo(http, grant.access_token))
