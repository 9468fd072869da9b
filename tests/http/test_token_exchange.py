"""Token exchange (RFC 8693) through HTTP, on SQLite and PostgreSQL.

The orders service received a user's access token (aud = the orders service) and must
call the billing service on the user's behalf: it exchanges that token at /token for one
whose audience is billing, with at most the subject token's scope, and an `act` claim
naming it (§4.1). Each refusal is the error §2.2.2 names.
"""

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authserver.clients.models import TOKEN_EXCHANGE
from authserver.db import Database
from authserver.grants.token_exchange import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from authserver.resource import InvalidToken, Verifier
from tests.conftest import ISSUER
from tests.factories import SERVICE_AUDIENCE, make_client
from tests.flows import Grant, Pkce, code_of, exchange_code
from tests.http.tokens import assert_oauth_error, basic, request_token, verify_with_jwks

BILLING = "https://billing.example.test"
SHIPPING = "https://shipping.example.test"


class Service:
    """A confidential client that may exchange tokens for some audiences."""

    def __init__(self, database: Database, *audiences: str, **overrides: Any) -> None:
        fields: dict[str, Any] = {
            "name": "Orders service",
            "grant_types": [TOKEN_EXCHANGE],
            "scope": "",
            "audiences": [],
            "token_exchange_audiences": list(audiences),
            **overrides,
        }
        client, secret = make_client(database, **fields)
        assert secret is not None
        self.client_id, self.secret = client.client_id, secret

    def exchange(self, http: TestClient, token: str | None, **form: Any) -> Response:
        data: dict[str, Any] = {"grant_type": TOKEN_EXCHANGE}
        if token is not None:
            data |= {"subject_token": token, "subject_token_type": ACCESS_TOKEN_TYPE}
        data |= form
        data = {name: value for name, value in data.items() if value is not None}
        return http.post("/token", data=data, headers=basic(self.client_id, self.secret))

    def exchanged(self, http: TestClient, subject_token: str, **form: Any) -> dict[str, Any]:
        response = self.exchange(http, subject_token, **form)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def orders(database: Database) -> Service:
    return Service(database, BILLING, SHIPPING)


@pytest.fixture
def user_token(grant: Grant) -> str:
    """The user's access token the web app sent to the orders service."""
    return grant.access_token


def claims_of(http: TestClient, token: str, audience: str | list[str]) -> dict[str, Any]:
    return verify_with_jwks(http, token, audience)


def test_discovery_names_the_grant(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


def test_an_exchanged_token_is_for_the_target_acts_for_the_user_and_names_the_actor(
    http: TestClient, orders: Service, user_token: str
) -> None:
    """RFC 8693 §2.1, §2.2.1 (issued_token_type, token_type), §4.1 (`act`)."""
    subject = claims_of(http, user_token, ISSUER)
    response = orders.exchange(http, user_token, resource=BILLING)
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["scope"] == subject["scope"]
    assert "refresh_token" not in body
    claims = claims_of(http, body["access_token"], BILLING)
    assert claims["aud"] == BILLING
    assert claims["sub"] == subject["sub"]
    assert claims["client_id"] == orders.client_id
    assert claims["scope"] == subject["scope"]
    assert claims["act"] == {"sub": orders.client_id}
    # Still part of the user's grant: revoking that revokes this (see below).
    assert claims["fid"] == subject["fid"] and claims["sid"] == subject["sid"]
    assert claims["auth_time"] == subject["auth_time"]
    assert claims["exp"] <= subject["exp"]
    assert body["expires_in"] == claims["exp"] - claims["iat"]


@pytest.mark.parametrize("parameter", ["resource", "audience"])
def test_the_target_may_be_named_by_resource_or_audience(
    http: TestClient, orders: Service, user_token: str, parameter: str
) -> None:
    body = orders.exchanged(http, user_token, **{parameter: SHIPPING})
    assert claims_of(http, body["access_token"], SHIPPING)["aud"] == SHIPPING


def test_several_targets_give_a_token_for_all_of_them(
    http: TestClient, orders: Service, user_token: str
) -> None:
    data = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", user_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", BILLING),
        ("audience", SHIPPING),
    ]
    response = http.post(
        "/token",
        content="&".join(f"{n}={v}" for n, v in data).encode(),
        headers={
            **basic(orders.client_id, orders.secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200, response.text
    claims = claims_of(http, response.json()["access_token"], BILLING)
    assert claims["aud"] == [BILLING, SHIPPING]


def test_a_client_with_one_audience_gets_it_when_none_is_named(
    http: TestClient, database: Database, user_token: str
) -> None:
    single = Service(database, BILLING, name="Single")
    body = single.exchanged(http, user_token)
    assert claims_of(http, body["access_token"], BILLING)["aud"] == BILLING


def test_no_target_named_with_several_allowed_is_invalid_target(
    http: TestClient, orders: Service, user_token: str
) -> None:
    assert_oauth_error(orders.exchange(http, user_token), 400, "invalid_target")


@pytest.mark.parametrize(
    "target",
    [
        {"resource": SERVICE_AUDIENCE},
        {"audience": "https://evil.example.test"},
        {"resource": ISSUER},
    ],
)
def test_an_audience_the_client_may_not_exchange_for_is_invalid_target(
    http: TestClient, orders: Service, user_token: str, target: dict[str, str]
) -> None:
    """RFC 8693 §2.2.2: `invalid_target` for a target the server will not issue for."""
    assert_oauth_error(orders.exchange(http, user_token, **target), 400, "invalid_target")


def test_the_scope_may_be_narrowed_never_widened(
    http: TestClient, orders: Service, user_token: str
) -> None:
    subject_scope = claims_of(http, user_token, ISSUER)["scope"].split()
    assert "profile" in subject_scope and "email" not in subject_scope
    narrowed = orders.exchanged(http, user_token, resource=BILLING, scope="profile")
    assert narrowed["scope"] == "profile"
    assert claims_of(http, narrowed["access_token"], BILLING)["scope"] == "profile"
    for wider in ("profile email", "orders:write", 'profile "x"'):
        response = orders.exchange(http, user_token, resource=BILLING, scope=wider)
        assert_oauth_error(response, 400, "invalid_scope")


def test_the_exchanged_token_passes_the_target_verifier_and_not_the_original(
    http: TestClient, orders: Service, web_app: tuple[str, str]
) -> None:
    """What the issue asks: the target service's verifier accepts it; the orders
    service's own verifier (its audience) refuses it."""
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, resource=SERVICE_AUDIENCE)
    redeemed = exchange_code(
        http, client_id, secret, code, pkce.verifier, resource=SERVICE_AUDIENCE
    )
    assert redeemed.status_code == 200, redeemed.text
    orders_token = redeemed.json()["access_token"]
    billing_token = orders.exchanged(http, orders_token, resource=BILLING)["access_token"]
    at_orders = Verifier(ISSUER, SERVICE_AUDIENCE, http=http)
    at_billing = Verifier(ISSUER, BILLING, http=http)
    assert at_orders.verify(orders_token)["sub"] == at_billing.verify(billing_token)["sub"]
    with pytest.raises(InvalidToken):
        at_orders.verify(billing_token)
    with pytest.raises(InvalidToken):
        at_billing.verify(orders_token)


def test_revoking_the_users_grant_revokes_the_exchanged_token(
    http: TestClient, orders: Service, grant: Grant
) -> None:
    exchanged = orders.exchanged(http, grant.access_token, resource=BILLING)["access_token"]

    def active() -> bool:
        response = http.post(
            "/introspect",
            data={"token": exchanged},
            headers=basic(orders.client_id, orders.secret),
        )
        return bool(response.json()["active"])

    assert active()
    revoked = http.post(
        "/revoke",
        data={"token": grant.refresh_token},
        headers=basic(grant.client_id, grant.secret or ""),
    )
    assert revoked.status_code == 200
    assert not active()
    # And a revoked subject token cannot be exchanged again.
    response = orders.exchange(http, grant.access_token, resource=BILLING)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "form",
    [
        {"subject_token": "not-a-jwt"},
        {"subject_token": "a.b.c"},
        {"subject_token_type": None},
        {"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"},
        {"actor_token": "x.y.z"},
        {"actor_token_type": ACCESS_TOKEN_TYPE},
    ],
    ids=[
        "garbage",
        "bad-jwt",
        "no-type",
        "refresh-type",
        "saml-type",
        "wants-refresh",
        "wants-id-token",
        "actor-without-type",
        "actor-type-without-token",
    ],
)
def test_a_bad_subject_actor_or_requested_type_is_invalid_request(
    http: TestClient, orders: Service, user_token: str, form: dict[str, Any]
) -> None:
    """RFC 8693 §2.2.2: "If the request itself is not valid or if either the
    subject_token or actor_token are invalid for any reason, or are unacceptable based
    on policy, the error code MUST be set to invalid_request"."""
    fields = {"subject_token": user_token, **form}
    token = fields.pop("subject_token")
    response = orders.exchange(http, token, resource=BILLING, **fields)
    assert_oauth_error(response, 400, "invalid_request")


def test_a_missing_subject_token_is_invalid_request(http: TestClient, orders: Service) -> None:
    assert_oauth_error(orders.exchange(http, None, resource=BILLING), 400, "invalid_request")


def test_an_id_token_is_not_a_subject_token(
    http: TestClient, orders: Service, grant: Grant
) -> None:
    """RFC 8725 §3.11: an id_token is not accepted where an access token is expected."""
    response = orders.exchange(http, grant.id_token, resource=BILLING)
    assert_oauth_error(response, 400, "invalid_request")


def test_the_jwt_token_type_names_our_access_tokens_too(
    http: TestClient, orders: Service, user_token: str
) -> None:
    response = orders.exchange(
        http, user_token, resource=BILLING, subject_token_type=JWT_TOKEN_TYPE
    )
    assert response.status_code == 200, response.text


def test_an_actor_token_must_be_the_callers_own(
    http: TestClient, database: Database, user_token: str
) -> None:
    """The actor (§2.1 `actor_token`) is the one asking: a token issued to another
    client is refused."""
    orders = Service(
        database,
        BILLING,
        grant_types=[TOKEN_EXCHANGE, "client_credentials"],
        scope="orders:read",
        audiences=[SERVICE_AUDIENCE],
    )
    own = request_token(http, orders.client_id, orders.secret, resource=SERVICE_AUDIENCE)
    actor = {"actor_token": own.json()["access_token"], "actor_token_type": ACCESS_TOKEN_TYPE}
    body = orders.exchanged(http, user_token, resource=BILLING, **actor)
    assert claims_of(http, body["access_token"], BILLING)["act"] == {"sub": orders.client_id}
    stranger, secret = make_client(database, name="Stranger")
    assert secret is not None
    theirs = request_token(http, stranger.client_id, secret, resource=SERVICE_AUDIENCE)
    foreign = {"actor_token": theirs.json()["access_token"], "actor_token_type": ACCESS_TOKEN_TYPE}
    response = orders.exchange(http, user_token, resource=BILLING, **foreign)
    assert_oauth_error(response, 400, "invalid_request")


def test_a_second_exchange_nests_the_actors(
    http: TestClient, database: Database, orders: Service, user_token: str
) -> None:
    """RFC 8693 §4.1: a chain of delegation, the current actor outermost."""
    billing = Service(database, SHIPPING, name="Billing service")
    first = orders.exchanged(http, user_token, resource=BILLING)["access_token"]
    second = billing.exchanged(http, first)["access_token"]
    claims = claims_of(http, second, SHIPPING)
    assert claims["act"] == {"sub": billing.client_id, "act": {"sub": orders.client_id}}
    assert claims["sub"] == claims_of(http, user_token, ISSUER)["sub"]


def test_a_client_without_the_grant_type_is_unauthorized(
    http: TestClient, database: Database, user_token: str
) -> None:
    client, secret = make_client(database)
    assert secret is not None
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": user_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
    }
    response = http.post("/token", data=data, headers=basic(client.client_id, secret))
    assert_oauth_error(response, 400, "unauthorized_client")


def test_an_unauthenticated_exchange_is_invalid_client(
    http: TestClient, orders: Service, user_token: str
) -> None:
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "client_id": orders.client_id,
        "subject_token": user_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
    }
    assert_oauth_error(http.post("/token", data=data), 401, "invalid_client")


def test_a_client_credentials_token_may_be_exchanged_too(
    http: TestClient, database: Database, orders: Service
) -> None:
    service, secret = make_client(database, name="Caller")
    assert secret is not None
    token = request_token(http, service.client_id, secret, resource=SERVICE_AUDIENCE)
    body = orders.exchanged(http, token.json()["access_token"], resource=BILLING)
    claims = claims_of(http, body["access_token"], BILLING)
    assert claims["sub"] == service.client_id
    assert "fid" not in claims


def test_the_exchanged_token_never_outlives_the_subject_token(
    http: TestClient, orders: Service, user_token: str
) -> None:
    subject = claims_of(http, user_token, ISSUER)
    time.sleep(1.1)
    claims = claims_of(
        http, orders.exchanged(http, user_token, resource=BILLING)["access_token"], BILLING
    )
    assert claims["exp"] == subject["exp"]
