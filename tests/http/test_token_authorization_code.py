"""The token endpoint for the authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6,
OIDC Core §3.1.3), with PKCE S256 and replay detection."""

import base64
import hashlib
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from authserver.clock import utcnow
from authserver.db import Database
from authserver.tokens.models import AuthorizationCode
from tests.conftest import ISSUER
from tests.factories import SERVICE_AUDIENCE, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code
from tests.http.tokens import assert_oauth_error, jose_header, verify_with_jwks


@pytest.fixture
def web_app(database: Database) -> tuple[str, str]:
    client, secret = make_web_app(database)
    make_user(database)
    assert secret is not None
    return client.client_id, secret


def test_a_code_and_its_verifier_give_access_refresh_and_id_tokens(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="openid profile", nonce="nonce-1")
    response = exchange_code(http, client_id, secret, code, pkce.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile"
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    access = verify_with_jwks(http, body["access_token"], ISSUER)
    assert jose_header(body["access_token"])["typ"] == "at+jwt"
    assert access["client_id"] == client_id
    assert access["sub"] == "1" or access["sub"].isdigit()
    assert {"sid", "fid", "auth_time"} <= set(access)


def test_the_id_token_verifies_with_the_jwks_and_binds_client_nonce_and_access_token(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="openid", nonce="n-0S6_WzA2Mj")
    body = exchange_code(http, client_id, secret, code, pkce.verifier).json()
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(body["id_token"])
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    # OIDC Core §3.1.3.7: RS256, iss exact, aud = client_id, nonce as sent.
    claims = jwt.decode(
        body["id_token"],
        key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time", "sid"]},
    )
    assert header.get("typ") != "at+jwt"  # RFC 9068 §2.1: never mistaken for an access token
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    # OIDC Core §3.1.3.6: at_hash is the left half of SHA-256 of the access token.
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_no_id_token_without_the_openid_scope(http: TestClient, web_app: tuple[str, str]) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="orders:read")
    body = exchange_code(http, client_id, secret, code, pkce.verifier).json()
    assert "id_token" not in body
    assert body["scope"] == "orders:read"


def test_a_resource_parameter_sets_the_audience(http: TestClient, web_app: tuple[str, str]) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="orders:read")
    body = exchange_code(
        http, client_id, secret, code, pkce.verifier, resource=SERVICE_AUDIENCE
    ).json()
    assert verify_with_jwks(http, body["access_token"], SERVICE_AUDIENCE)["aud"] == SERVICE_AUDIENCE


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        # SECURITY-CHECKLIST /token; RFC 7636 §4.6: a wrong verifier is invalid_grant.
        ("wrong-verifier-" + "x" * 40, "invalid_grant"),
        # A missing verifier is invalid_grant: the code was bound to a challenge.
        (None, "invalid_grant"),
        # RFC 7636 §4.1: 43-128 unreserved characters; anything else is malformed.
        ("short", "invalid_request"),
        ("x" * 129, "invalid_request"),
        ("has spaces and !" + "x" * 40, "invalid_request"),
    ],
)
def test_a_wrong_missing_or_malformed_verifier_is_refused(
    http: TestClient, web_app: tuple[str, str], verifier: str | None, error: str
) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce)
    assert_oauth_error(exchange_code(http, client_id, secret, code, verifier), 400, error)


def test_the_plain_method_cannot_be_used_even_with_a_matching_verifier(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    client_id, _ = web_app
    # RFC 7636 §4.3 / RFC 9700 §2.1.1: plain is refused at the authorization endpoint.
    response = http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "https://app.example.test/callback",
            "code_challenge": "p" * 43,
            "code_challenge_method": "plain",
            "state": "s",
        },
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


def test_a_code_used_twice_fails_and_revokes_the_tokens_it_gave(
    http: TestClient, web_app: tuple[str, str]
) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope="openid profile")
    first = exchange_code(http, client_id, secret, code, pkce.verifier).json()
    bearer = {"Authorization": "Bearer " + first["access_token"]}
    assert http.get("/userinfo", headers=bearer).status_code == 200
    # RFC 6749 §4.1.2: a code used more than once is refused, and its tokens are revoked.
    replay = exchange_code(http, client_id, secret, code, pkce.verifier)
    assert_oauth_error(replay, 400, "invalid_grant")
    assert http.get("/userinfo", headers=bearer).status_code == 401
    refresh = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(client_id, secret),
    )
    assert_oauth_error(refresh, 400, "invalid_grant")


def test_another_clients_code_and_another_redirect_uri_are_refused(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    client_id, secret = web_app
    other, other_secret = make_web_app(database, name="Other")
    assert other_secret is not None
    pkce = Pkce()
    code = code_of(http, client_id, pkce)
    # RFC 6749 §4.1.3: the code is bound to the client and the redirect_uri.
    stolen = exchange_code(http, other.client_id, other_secret, code, pkce.verifier)
    assert_oauth_error(stolen, 400, "invalid_grant")
    moved = exchange_code(
        http, client_id, secret, code, pkce.verifier, redirect_uri="https://app.example.test/x"
    )
    assert_oauth_error(moved, 400, "invalid_grant")
    # Neither attempt consumed the code: the rightful request still works.
    assert exchange_code(http, client_id, secret, code, pkce.verifier).status_code == 200


def test_an_expired_code_is_refused(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce)
    with database.transaction() as session:
        session.execute(
            update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=2))
        )
    # RFC 6749 §4.1.2: codes are short-lived (60 s here, AUTHSERVER_AUTHORIZATION_CODE_TTL).
    assert_oauth_error(
        exchange_code(http, client_id, secret, code, pkce.verifier), 400, "invalid_grant"
    )


def test_codes_are_stored_only_as_hashes(
    http: TestClient, database: Database, web_app: tuple[str, str]
) -> None:
    client_id, _ = web_app
    code = code_of(http, client_id, Pkce())
    with database.transaction() as session:
        stored = session.exec(select(AuthorizationCode)).one()
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in stored.model_dump_json()


def test_a_public_client_exchanges_its_code_with_only_its_client_id(
    http: TestClient, database: Database
) -> None:
    client, secret = make_web_app(database, public=True, name="SPA")
    make_user(database)
    assert secret is None
    pkce = Pkce()
    code = code_of(http, client.client_id, pkce)
    response = exchange_code(http, client.client_id, None, code, pkce.verifier)
    assert response.status_code == 200, response.text
    # ...and a confidential client cannot skip its secret.
    confidential, _ = make_web_app(database, name="Confidential")
    pkce = Pkce()
    code = code_of(http, confidential.client_id, pkce)
    no_secret = exchange_code(http, confidential.client_id, None, code, pkce.verifier)
    assert_oauth_error(no_secret, 401, "invalid_client")
