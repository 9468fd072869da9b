"""The client_credentials grant (RFC 6749 §4.4) issuing RFC 9068 access tokens."""

import time

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from tests.conftest import ISSUER
from tests.factories import SERVICE_AUDIENCE, make_client
from tests.http.tokens import (
    assert_oauth_error,
    basic,
    jose_header,
    request_token,
    verify_with_jwks,
)


def test_a_token_carries_the_rfc_9068_header_and_claims(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, secret = registered
    before = int(time.time())
    response = request_token(http, client_id, secret, scope="orders:read")

    assert response.status_code == 200
    # RFC 6749 §5.1: the token response is never cached.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "orders:read"

    token = body["access_token"]
    header = jose_header(token)
    # RFC 9068 §2.1: typ at+jwt; RS256 with the kid of the current key.
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == http.app.state.services.keyring.current_kid  # type: ignore[attr-defined]

    claims = verify_with_jwks(http, token, audience=ISSUER)
    assert claims["iss"] == ISSUER
    # RFC 9068 §2.2: with no resource owner, `sub` identifies the client.
    assert claims["sub"] == client_id
    assert claims["client_id"] == client_id
    assert claims["aud"] == ISSUER
    assert claims["scope"] == "orders:read"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) >= 16


def test_client_secret_post_works_as_well_as_basic(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, secret = registered
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = http.post("/token", data=form)
    assert response.status_code == 200, response.text
    assert verify_with_jwks(http, response.json()["access_token"], ISSUER)["sub"] == client_id


def test_without_a_scope_the_client_gets_its_registered_scope(
    http: TestClient, registered: tuple[str, str]
) -> None:
    # RFC 6749 §3.3: an omitted scope means the pre-defined default.
    response = request_token(http, *registered)
    assert response.json()["scope"] == "orders:read orders:write"


def test_every_token_has_its_own_jti(http: TestClient, registered: tuple[str, str]) -> None:
    tokens = [request_token(http, *registered).json()["access_token"] for _ in range(3)]
    jtis = {verify_with_jwks(http, token, ISSUER)["jti"] for token in tokens}
    assert len(jtis) == 3


@pytest.mark.parametrize(
    "scope",
    ["admin", "orders:read admin", 'orders:read "x"', "orders:\\read"],
)
def test_a_scope_beyond_the_client_or_malformed_is_invalid_scope(
    http: TestClient, registered: tuple[str, str], scope: str
) -> None:
    # RFC 6749 §5.2 invalid_scope; §3.3 scope-token syntax.
    assert_oauth_error(request_token(http, *registered, scope=scope), 400, "invalid_scope")


def test_a_named_resource_becomes_the_audience(
    http: TestClient, registered: tuple[str, str]
) -> None:
    # RFC 8707 §2: the token is for the resource the request names.
    response = request_token(http, *registered, resource=SERVICE_AUDIENCE)
    token = response.json()["access_token"]
    assert verify_with_jwks(http, token, SERVICE_AUDIENCE)["aud"] == SERVICE_AUDIENCE


def test_two_resources_give_two_audiences(http: TestClient, registered: tuple[str, str]) -> None:
    client_id, secret = registered
    form = [("grant_type", "client_credentials"), ("resource", SERVICE_AUDIENCE)]
    form.append(("resource", ISSUER))
    response = http.post(
        "/token",
        content="&".join(f"{k}={v}" for k, v in form),
        headers={**basic(client_id, secret), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    claims = verify_with_jwks(http, response.json()["access_token"], SERVICE_AUDIENCE)
    assert claims["aud"] == [SERVICE_AUDIENCE, ISSUER]


@pytest.mark.parametrize(
    "resource",
    [
        "https://billing.example.test",
        "https://orders.example.test/",
        "orders",
        f"{SERVICE_AUDIENCE}#x",
        # Not readable as a URI at all (an IPv6 literal or a port): once a 500.
        "https://[x",
        "http://[::1/",
        "https://orders.example.test]",
        "https://orders.example.test:port",
    ],
)
def test_a_resource_the_client_may_not_have_is_invalid_target(
    http: TestClient, registered: tuple[str, str], resource: str
) -> None:
    # RFC 8707 §2: invalid_target, matched exactly (no prefix, no trailing-slash tolerance).
    response = request_token(http, *registered, resource=resource)
    assert_oauth_error(response, 400, "invalid_target")


def test_a_client_without_the_grant_is_unauthorized_client(
    http: TestClient, database: Database
) -> None:
    client, secret = make_client(
        database,
        grant_types=["authorization_code"],
        redirect_uris=["https://app.example.test/callback"],
    )
    assert secret is not None
    response = request_token(http, client.client_id, secret)
    assert_oauth_error(response, 400, "unauthorized_client")


def test_an_unknown_grant_type_is_unsupported_grant_type(
    http: TestClient, registered: tuple[str, str]
) -> None:
    response = request_token(http, *registered, grant_type="password")
    body = assert_oauth_error(response, 400, "unsupported_grant_type")
    assert "password" not in body.get("error_description", "")


def test_a_missing_grant_type_is_invalid_request(
    http: TestClient, registered: tuple[str, str]
) -> None:
    response = http.post("/token", data={"scope": "orders:read"}, headers=basic(*registered))
    assert_oauth_error(response, 400, "invalid_request")


def test_a_deleted_client_stops_working(http: TestClient, database: Database) -> None:
    from authserver.clients.repository import ClientRepository

    client, secret = make_client(database)
    assert secret is not None
    assert request_token(http, client.client_id, secret).status_code == 200
    with database.transaction() as session:
        ClientRepository(session).delete(client.client_id)
    # The test app's client cache TTL is 0.
    assert_oauth_error(request_token(http, client.client_id, secret), 401, "invalid_client")
