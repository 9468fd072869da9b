"""Token introspection over HTTP: callers, active metadata, `{"active": false}` (RFC 7662)."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import RSAKey

from authserver.clients.repository import ClientRepository
from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_client, make_web_app
from tests.flows import Grant
from tests.http.tokens import (
    assert_oauth_error,
    basic,
    claims_of,
    expired,
    request_token,
    server_key,
    sign_hs256,
    sign_rs256,
    unsigned,
    with_claims,
)

INACTIVE = {"active": False}


@pytest.fixture
def resource_service(database: Database) -> tuple[str, str]:
    """A client registered with `--introspect`: it may introspect every token."""
    client, secret = make_client(database, can_introspect=True, grant_types=["client_credentials"])
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def other_client(database: Database) -> tuple[str, str]:
    """A plain confidential client that holds none of the tokens under test."""
    client, secret = make_client(database)
    assert secret is not None
    return client.client_id, secret


@pytest.fixture(scope="module")
def stranger_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def introspect(http: TestClient, caller: tuple[str, str], token: str, **form: str) -> Response:
    return http.post("/introspect", data={"token": token, **form}, headers=basic(*caller))


def assert_inactive(response: Response) -> None:
    """RFC 7662 §2.2: 200 and exactly `{"active": false}`, nothing else revealed."""
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(response.content) == INACTIVE


def refresh(http: TestClient, grant: Grant, refresh_token: str) -> Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return http.post("/token", data=form, **grant.auth)


# Each forgery takes the claims of a real, active access token, the server's current key
# and a stranger's key, and returns a token that must not be active: RFC 7519 §4.1.4 (exp),
# RFC 8725 §3.8 (iss exact), §3.3 (signature), §2.1 and §3.1 (alg none, HS256 keyed with
# our public key).
Forgery = Callable[[dict[str, Any], RSAKey, RSAKey], str]
FORGERIES: dict[str, Forgery] = {
    "expired an hour ago": lambda c, ours, _: sign_rs256(expired(c, 3600), ours),
    "expired a second ago": lambda c, ours, _: sign_rs256(expired(c, 1), ours),
    "another issuer": lambda c, ours, _: sign_rs256(
        with_claims(c, iss="https://evil.example.test"), ours
    ),
    "issuer with a trailing slash": lambda c, ours, _: sign_rs256(
        with_claims(c, iss=ISSUER + "/"), ours
    ),
    "issuer as a prefix": lambda c, ours, _: sign_rs256(
        with_claims(c, iss=ISSUER + ".evil.test"), ours
    ),
    "unknown key and kid": lambda c, _, stranger: sign_rs256(c, stranger, kid="stranger"),
    "unknown key under our kid": lambda c, ours, stranger: sign_rs256(c, stranger, kid=ours.kid),
    "alg none": lambda c, ours, _: (
        unsigned({"alg": "none", "typ": "at+jwt", "kid": ours.kid}, c) + "."
    ),
    "HS256 keyed with our public key (PEM)": lambda c, ours, _: sign_hs256(
        c, ours.as_pem(private=False), ours.kid
    ),
    "HS256 keyed with our public key (DER)": lambda c, ours, _: sign_hs256(
        c, ours.as_der(private=False), ours.kid
    ),
    "HS256 keyed with our public key (JWK)": lambda c, ours, _: sign_hs256(
        c, json.dumps(ours.as_dict(private=False)).encode(), ours.kid
    ),
}


def test_an_unauthenticated_caller_gets_401_invalid_client(http: TestClient, grant: Grant) -> None:
    # RFC 7662 §2.1: the endpoint requires client authentication.
    response = http.post("/introspect", data={"token": grant.access_token})
    assert_oauth_error(response, 401, "invalid_client")


def test_a_wrong_client_secret_gets_401_invalid_client(http: TestClient, grant: Grant) -> None:
    # RFC 7662 §2.1, RFC 6749 §5.2: failed client authentication is 401 invalid_client.
    response = introspect(http, (grant.client_id, grant.secret + "x"), grant.access_token)
    assert_oauth_error(response, 401, "invalid_client")


def test_a_client_id_without_a_secret_gets_401_invalid_client(
    http: TestClient, database: Database, grant: Grant
) -> None:
    # RFC 7662 §2.1: a public client cannot authenticate, so it cannot introspect; nor can
    # anyone who merely names a confidential client's client_id.
    public, _ = make_web_app(database, public=True)
    for client_id in (public.client_id, grant.client_id):
        response = http.post(
            "/introspect", data={"token": grant.access_token, "client_id": client_id}
        )
        assert_oauth_error(response, 401, "invalid_client")


def test_a_client_introspecting_its_own_access_token_sees_its_claims(
    http: TestClient, grant: Grant, user: User
) -> None:
    response = introspect(http, (grant.client_id, grant.secret), grant.access_token)

    # RFC 7662 §2.2: active, with the token's metadata.
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    jwt_claims = claims_of(grant.access_token)
    assert body["active"] is True
    assert body["scope"] == "openid profile"
    assert body["client_id"] == grant.client_id
    assert body["sub"] == str(user.id)
    assert body["aud"] == ISSUER
    assert body["iss"] == ISSUER
    assert body["token_type"] == "Bearer"
    assert body["jti"] == jwt_claims["jti"]
    assert (body["iat"], body["exp"]) == (jwt_claims["iat"], jwt_claims["exp"])
    assert body["exp"] - body["iat"] == 900


def test_a_client_introspecting_its_own_refresh_token_sees_the_grant(
    http: TestClient, grant: Grant, user: User
) -> None:
    before = int(time.time())
    response = introspect(http, (grant.client_id, grant.secret), grant.refresh_token)

    # RFC 7662 §2.2: active, with the grant's metadata; the token is opaque, so no jti.
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["scope"] == "openid profile"
    assert body["client_id"] == grant.client_id
    assert body["sub"] == str(user.id)
    assert body["token_type"] == "refresh_token"
    assert before - 5 <= body["iat"] <= int(time.time())
    # CONTRACT.md: a family lives AUTHSERVER_REFRESH_TOKEN_TTL (7 days) from its start.
    assert body["exp"] - body["iat"] == 604800


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_an_introspect_client_sees_another_clients_token_as_active(
    http: TestClient, grant: Grant, resource_service: tuple[str, str], kind: str
) -> None:
    # CONTRACT.md: an --introspect client may introspect every token of this issuer.
    response = introspect(http, resource_service, getattr(grant, kind))

    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == grant.client_id


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_plain_other_client_gets_exactly_active_false(
    http: TestClient, grant: Grant, other_client: tuple[str, str], kind: str
) -> None:
    # RFC 7662 §2.2, §4: a caller not allowed to see the token learns nothing about it.
    assert_inactive(introspect(http, other_client, getattr(grant, kind)))


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "unknown_type"])
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_wrong_or_unknown_token_type_hint_still_finds_the_token(
    http: TestClient, grant: Grant, kind: str, hint: str
) -> None:
    # RFC 7662 §2.1: a server that cannot find the token by the hint searches every type.
    response = introspect(
        http, (grant.client_id, grant.secret), getattr(grant, kind), token_type_hint=hint
    )

    assert response.status_code == 200
    assert response.json()["active"] is True


def test_a_token_re_signed_unchanged_with_the_server_key_is_active(
    http: TestClient, grant: Grant
) -> None:
    """The control for the forgeries below: only what each one changes makes it inactive."""
    token = sign_rs256(claims_of(grant.access_token), server_key(http))
    response = introspect(http, (grant.client_id, grant.secret), token)

    assert response.status_code == 200
    assert response.json()["active"] is True


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_or_expired_access_token_is_inactive(
    http: TestClient, grant: Grant, stranger_key: RSAKey, forge: Forgery
) -> None:
    # RFC 7662 §2.2: active is false unless the token is valid; see FORGERIES for each rule.
    token = forge(claims_of(grant.access_token), server_key(http), stranger_key)
    assert_inactive(introspect(http, (grant.client_id, grant.secret), token))


def revoked_family_access_token(http: TestClient, grant: Grant, _: Database) -> str:
    form = {"token": grant.refresh_token}
    response = http.post("/revoke", data=form, **grant.auth)
    assert response.status_code == 200
    return grant.access_token


def consumed_refresh_token(http: TestClient, grant: Grant, _: Database) -> str:
    assert refresh(http, grant, grant.refresh_token).status_code == 200
    return grant.refresh_token


def disable_user_of(grant: Grant, database: Database) -> None:
    """What `authserver users disable` does to the row: the user's tokens stop working."""
    with database.transaction() as session:
        user = session.get(User, int(claims_of(grant.access_token)["sub"]))
        assert user is not None
        user.disabled = True


def disabled_users_access_token(_: TestClient, grant: Grant, database: Database) -> str:
    disable_user_of(grant, database)
    return grant.access_token


def disabled_users_refresh_token(_: TestClient, grant: Grant, database: Database) -> str:
    disable_user_of(grant, database)
    return grant.refresh_token


INACTIVE_TOKENS: dict[str, Callable[[TestClient, Grant, Database], str]] = {
    "an id_token": lambda _, grant, __: grant.id_token,
    "a consumed (rotated) refresh token": consumed_refresh_token,
    "a revoked family's access token": revoked_family_access_token,
    "a disabled user's access token": disabled_users_access_token,
    "a disabled user's refresh token": disabled_users_refresh_token,
    "garbage": lambda *_: "garbage",
    "three dots of garbage": lambda *_: "not.a.jwt",
    "an unknown opaque token": lambda *_: "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg",
    "a 5 KB string": lambda *_: "A" * 5000,
    "a 9 KB JWT-shaped string": lambda *_: "e" * 3000 + "." + "e" * 3000 + "." + "e" * 3000,
}


@pytest.mark.parametrize("make_token", INACTIVE_TOKENS.values(), ids=INACTIVE_TOKENS.keys())
@pytest.mark.parametrize("as_resource_service", [False, True], ids=["as owner", "as --introspect"])
def test_a_token_that_is_not_good_is_exactly_inactive(
    http: TestClient,
    database: Database,
    grant: Grant,
    resource_service: tuple[str, str],
    make_token: Callable[[TestClient, Grant, Database], str],
    as_resource_service: bool,
) -> None:
    # RFC 7662 §2.2: revoked, consumed, of a disabled user, or not an access or refresh
    # token of ours at all (RFC 8725 §3.11: an id_token is not an access token).
    token = make_token(http, grant, database)
    caller = resource_service if as_resource_service else (grant.client_id, grant.secret)
    assert_inactive(introspect(http, caller, token))


def test_the_rotated_refresh_token_stays_active_when_its_parent_is_introspected(
    http: TestClient, grant: Grant
) -> None:
    """Introspecting a consumed token is not a reuse of it (RFC 9700 §4.14.2 is for /token)."""
    child = refresh(http, grant, grant.refresh_token).json()["refresh_token"]
    assert_inactive(introspect(http, (grant.client_id, grant.secret), grant.refresh_token))

    response = introspect(http, (grant.client_id, grant.secret), child)
    assert response.json()["active"] is True


def test_a_missing_token_parameter_is_invalid_request(http: TestClient, grant: Grant) -> None:
    # RFC 7662 §2.1: `token` is REQUIRED.
    response = http.post("/introspect", data={}, **grant.auth)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "token_of",
    [lambda grant: grant.access_token, lambda grant: grant.refresh_token, lambda _: "garbage"],
    ids=["active access token", "active refresh token", "inactive"],
)
def test_every_introspection_response_carries_cache_control_no_store(
    http: TestClient, grant: Grant, token_of: Callable[[Grant], str]
) -> None:
    # RFC 7662 §2.2 (token metadata) and RFC 6749 §5.1: never cached.
    response = introspect(http, (grant.client_id, grant.secret), token_of(grant))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")


def delete_client(database: Database, client_id: str) -> None:
    """What `authserver clients delete` does to the rows."""
    with database.transaction() as session:
        assert ClientRepository(session).delete(client_id)


def test_a_deleted_clients_tokens_are_inactive(
    http: TestClient, database: Database, grant: Grant, resource_service: tuple[str, str]
) -> None:
    """A token is active only while its client exists (RFC 7662 §2.2: a token is active
    while it has not been revoked; removing a client revokes what it holds)."""
    service, secret = make_client(database)
    assert secret is not None
    response = request_token(http, service.client_id, secret)
    service_token = response.json()["access_token"]
    for token in (service_token, grant.access_token, grant.refresh_token):
        assert introspect(http, resource_service, token).json()["active"] is True

    delete_client(database, service.client_id)
    delete_client(database, grant.client_id)

    for token in (service_token, grant.access_token, grant.refresh_token):
        assert_inactive(introspect(http, resource_service, token))
