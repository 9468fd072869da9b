"""Token revocation over HTTP: who may revoke, what it ends, 200 for the rest (RFC 7009)."""

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from httpx import Response

from authserver.db import Database
from authserver.users.models import User
from tests.factories import make_client, make_web_app
from tests.flows import Grant, grant_for
from tests.http.tokens import assert_oauth_error, basic, request_token

INACTIVE = {"active": False}


@pytest.fixture
def other_grant(http: TestClient, database: Database, user: User) -> Grant:
    """Tokens of a second web app, for the same user in the same browser."""
    client, secret = make_web_app(database, name="Other App")
    return grant_for(http, client.client_id, secret)


@pytest.fixture
def resource_service(database: Database) -> tuple[str, str]:
    """A client registered with `--introspect`, to observe every token's state."""
    client, secret = make_client(database, can_introspect=True, grant_types=["client_credentials"])
    assert secret is not None
    return client.client_id, secret


def revoke(http: TestClient, grant: Grant, token: str | None, **form: str) -> Response:
    """POST /revoke authenticated as `grant`'s client; `token=None` leaves it out."""
    auth = grant.auth
    data = {**auth.get("data", {}), **form}
    if token is not None:
        data["token"] = token
    return http.post("/revoke", data=data, headers=auth.get("headers"))


def assert_revocation_ok(response: Response) -> None:
    """RFC 7009 §2.2: 200 whether or not anything was revoked; never cached."""
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


def refresh(http: TestClient, grant: Grant, refresh_token: str | None = None) -> Response:
    auth = grant.auth
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token or grant.refresh_token}
    return http.post("/token", data={**auth.get("data", {}), **form}, headers=auth.get("headers"))


def is_active(http: TestClient, resource_service: tuple[str, str], token: str) -> bool:
    response = http.post("/introspect", data={"token": token}, headers=basic(*resource_service))
    assert response.status_code == 200, response.text
    body = json.loads(response.content)
    if not body["active"]:
        assert body == INACTIVE
    return bool(body["active"])


def userinfo_status(http: TestClient, access_token: str) -> int:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def assert_untouched(http: TestClient, resource_service: tuple[str, str], grant: Grant) -> None:
    """Both tokens of `grant` still work, checked without consuming the refresh token."""
    assert is_active(http, resource_service, grant.access_token)
    assert is_active(http, resource_service, grant.refresh_token)
    assert userinfo_status(http, grant.access_token) == 200


def foreign_jwt(grant: Grant) -> str:
    """The grant's own access token, claims and header alike, re-signed by another key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(grant.access_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(grant.access_token)
    return jwt.encode(claims, key, algorithm="RS256", headers=header)


def test_revocation_without_client_authentication_is_401_invalid_client(
    http: TestClient, grant: Grant
) -> None:
    # RFC 7009 §2.1: the client authenticates; §2.2.1 with RFC 6749 §5.2: invalid_client.
    response = http.post("/revoke", data={"token": grant.refresh_token})
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda grant: {"headers": basic(grant.client_id, "wrong")}, id="wrong secret"),
        pytest.param(lambda grant: {"headers": basic("nobody", "wrong")}, id="unknown client"),
        pytest.param(
            lambda grant: {"data": {"client_id": grant.client_id, "client_secret": "wrong"}},
            id="wrong secret in the body",
        ),
        pytest.param(
            lambda grant: {"data": {"client_id": grant.client_id}},
            id="a confidential client's client_id alone",
        ),
    ],
)
def test_revocation_with_bad_client_credentials_is_401_and_revokes_nothing(
    http: TestClient,
    grant: Grant,
    resource_service: tuple[str, str],
    credentials: Callable[[Grant], dict[str, Any]],
) -> None:
    # RFC 7009 §2.1: confidential clients authenticate; RFC 6749 §5.2: 401 invalid_client.
    auth = credentials(grant)
    data = {"token": grant.refresh_token, **auth.get("data", {})}
    response = http.post("/revoke", data=data, headers=auth.get("headers"))

    assert_oauth_error(response, 401, "invalid_client")
    assert_untouched(http, resource_service, grant)


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "no_such_type"])
def test_revoking_a_refresh_token_revokes_its_whole_family(
    http: TestClient, grant: Grant, resource_service: tuple[str, str], hint: str | None
) -> None:
    # RFC 7009 §2.1: the hint is only a hint; a wrong or unknown one neither stops the
    # revocation nor makes it fail (the server supports both types, so §2.2.1's
    # unsupported_token_type never applies).
    form = {"token_type_hint": hint} if hint else {}
    assert_revocation_ok(revoke(http, grant, grant.refresh_token, **form))

    # RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens
    # of the same grant; SECURITY-CHECKLIST: it revokes the family.
    assert_oauth_error(refresh(http, grant), 400, "invalid_grant")
    assert not is_active(http, resource_service, grant.refresh_token)
    assert not is_active(http, resource_service, grant.access_token)
    assert userinfo_status(http, grant.access_token) == 401


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "no_such_type"])
def test_revoking_an_access_token_deny_lists_it_and_spares_the_refresh_token(
    http: TestClient, grant: Grant, resource_service: tuple[str, str], hint: str | None
) -> None:
    form = {"token_type_hint": hint} if hint else {}
    assert_revocation_ok(revoke(http, grant, grant.access_token, **form))

    # RFC 7009 §2: the revoked access token is no longer accepted.
    assert not is_active(http, resource_service, grant.access_token)
    assert userinfo_status(http, grant.access_token) == 401
    # RFC 7009 §2.1: revoking an access token MAY leave the refresh token; this server
    # deny-lists only the access token's jti, so the grant lives on.
    assert is_active(http, resource_service, grant.refresh_token)
    refreshed = refresh(http, grant)
    assert refreshed.status_code == 200, refreshed.text
    assert userinfo_status(http, refreshed.json()["access_token"]) == 200


def test_revoking_an_already_rotated_refresh_token_still_ends_the_family(
    http: TestClient, grant: Grant, resource_service: tuple[str, str]
) -> None:
    # RFC 7009 §2.1: revoking a refresh token SHOULD invalidate every token of the same
    # grant; a client signing out with a stale token must not leave its successor alive.
    child = refresh(http, grant).json()
    assert_revocation_ok(revoke(http, grant, grant.refresh_token))

    assert_oauth_error(refresh(http, grant, child["refresh_token"]), 400, "invalid_grant")
    assert not is_active(http, resource_service, child["access_token"])


def test_a_service_revokes_its_own_client_credentials_token(
    http: TestClient, database: Database, resource_service: tuple[str, str]
) -> None:
    # RFC 7009 §2: an access token with no refresh token or family is deny-listed alone.
    client, secret = make_client(database)
    assert secret is not None
    token = request_token(http, client.client_id, secret).json()["access_token"]
    assert is_active(http, resource_service, token)

    form = {"token": token}
    response = http.post("/revoke", data=form, headers=basic(client.client_id, secret))

    assert_revocation_ok(response)
    assert not is_active(http, resource_service, token)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoking_another_clients_token_answers_200_and_revokes_nothing(
    http: TestClient,
    grant: Grant,
    other_grant: Grant,
    resource_service: tuple[str, str],
    kind: str,
) -> None:
    # RFC 7009 §2.1: a client may revoke only tokens issued to it. CONTRACT.md: the
    # answer is 200 either way, so it does not tell whether the token exists.
    assert_revocation_ok(revoke(http, grant, getattr(other_grant, kind)))

    assert_untouched(http, resource_service, other_grant)
    assert refresh(http, other_grant).status_code == 200


UNREVOCABLE: dict[str, Callable[[Grant], str]] = {
    "an unknown opaque token": lambda _: "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg",
    "garbage": lambda _: "garbage",
    "three dots of garbage": lambda _: "not.a.jwt",
    "a 5 KB string": lambda _: "A" * 5 * 1024,
    "a 5 KB JWT-shaped string": lambda _: ".".join(["e" * 1700] * 3),
    "our access token re-signed by another key": foreign_jwt,
    "our id_token": lambda grant: grant.id_token,
}


@pytest.mark.parametrize("make_token", UNREVOCABLE.values(), ids=UNREVOCABLE.keys())
def test_revoking_an_unknown_or_invalid_token_answers_200_and_changes_nothing(
    http: TestClient,
    grant: Grant,
    resource_service: tuple[str, str],
    make_token: Callable[[Grant], str],
) -> None:
    # RFC 7009 §2.2: "invalid tokens do not cause an error response". A forged copy of a
    # real token must not deny-list the real token's jti (RFC 8725 §3.3: verify first);
    # an id_token is neither an access nor a refresh token (RFC 8725 §3.11).
    assert_revocation_ok(revoke(http, grant, make_token(grant)))

    assert_untouched(http, resource_service, grant)
    assert refresh(http, grant).status_code == 200


def test_a_missing_token_parameter_is_400_invalid_request(http: TestClient, grant: Grant) -> None:
    # RFC 7009 §2.1: `token` is REQUIRED; RFC 6749 §5.2: invalid_request.
    assert_oauth_error(revoke(http, grant, None), 400, "invalid_request")


def test_a_repeated_token_parameter_is_400_invalid_request(
    http: TestClient, grant: Grant, resource_service: tuple[str, str]
) -> None:
    # RFC 6749 §3.2 (and §5.2): request parameters MUST NOT be included more than once.
    body = f"token={grant.refresh_token}&token={grant.access_token}"
    headers = {**grant.auth["headers"], "Content-Type": "application/x-www-form-urlencoded"}
    response = http.post("/revoke", content=body, headers=headers)

    assert_oauth_error(response, 400, "invalid_request")
    assert_untouched(http, resource_service, grant)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoking_the_same_token_again_answers_200(
    http: TestClient, grant: Grant, resource_service: tuple[str, str], kind: str
) -> None:
    # RFC 7009 §2.2: an already invalid token is not an error; revocation is idempotent.
    token = getattr(grant, kind)
    for _ in range(3):
        assert_revocation_ok(revoke(http, grant, token))
    assert not is_active(http, resource_service, token)


def test_a_public_client_revokes_its_own_refresh_token_with_only_its_client_id(
    http: TestClient, database: Database, user: User, resource_service: tuple[str, str]
) -> None:
    # RFC 7009 §2.1: a public client identifies itself with client_id in the body.
    client, secret = make_web_app(database, public=True)
    assert secret is None
    public_grant = grant_for(http, client.client_id, None)

    response = http.post(
        "/revoke", data={"token": public_grant.refresh_token, "client_id": client.client_id}
    )

    assert_revocation_ok(response)
    assert_oauth_error(refresh(http, public_grant), 400, "invalid_grant")
    assert not is_active(http, resource_service, public_grant.access_token)


def test_a_public_client_cannot_revoke_a_confidential_clients_token(
    http: TestClient,
    database: Database,
    grant: Grant,
    resource_service: tuple[str, str],
) -> None:
    # RFC 7009 §2.1: the token must have been issued to the client making the request.
    public, _ = make_web_app(database, public=True, name="Public App")
    response = http.post(
        "/revoke", data={"token": grant.refresh_token, "client_id": public.client_id}
    )

    assert_revocation_ok(response)
    assert_untouched(http, resource_service, grant)


@pytest.mark.parametrize(
    "make_request",
    [
        pytest.param(lambda grant: ({"token": grant.refresh_token}, grant.auth), id="a revocation"),
        pytest.param(lambda grant: ({"token": "garbage"}, grant.auth), id="unknown token"),
        pytest.param(lambda grant: ({}, grant.auth), id="missing token"),
        pytest.param(lambda grant: ({"token": "garbage"}, {}), id="no client authentication"),
    ],
)
def test_every_revocation_response_carries_cache_control_no_store(
    http: TestClient,
    grant: Grant,
    make_request: Callable[[Grant], tuple[dict[str, str], dict[str, Any]]],
) -> None:
    # RFC 6749 §5.1, §5.2 (CONTRACT.md: errors on OAuth endpoints are not cached either).
    form, auth = make_request(grant)
    response = http.post(
        "/revoke", data={**form, **auth.get("data", {})}, headers=auth.get("headers")
    )

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
