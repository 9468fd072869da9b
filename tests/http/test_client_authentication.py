"""Client authentication at /token (RFC 6749 §2.3.1, §5.2)."""

import base64

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from tests.factories import make_client
from tests.http.tokens import assert_oauth_error, basic, request_token


def test_a_wrong_secret_is_401_invalid_client_with_a_basic_challenge(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, _ = registered
    response = request_token(http, client_id, "not-the-secret")
    assert_oauth_error(response, 401, "invalid_client")
    # RFC 6749 §5.2: Basic was used, so the 401 names the Basic scheme.
    assert response.headers["www-authenticate"].startswith("Basic")


def test_an_unknown_client_fails_exactly_like_a_wrong_secret(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, _ = registered
    wrong_secret = request_token(http, client_id, "not-the-secret")
    unknown = request_token(http, "no-such-client", "whatever")
    # Never reveal whether a client_id exists.
    assert unknown.status_code == wrong_secret.status_code == 401
    assert unknown.json() == wrong_secret.json()
    assert unknown.headers["www-authenticate"] == wrong_secret.headers["www-authenticate"]


def test_a_wrong_secret_in_the_body_is_401_invalid_client(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, _ = registered
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"}
    assert_oauth_error(http.post("/token", data=form), 401, "invalid_client")


def test_basic_and_body_credentials_together_are_invalid_request(
    http: TestClient, registered: tuple[str, str]
) -> None:
    # RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
    client_id, secret = registered
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = http.post("/token", data=form, headers=basic(client_id, secret))
    assert_oauth_error(response, 400, "invalid_request")


def test_a_body_client_id_other_than_the_basic_one_is_invalid_request(
    http: TestClient, registered: tuple[str, str]
) -> None:
    form = {"grant_type": "client_credentials", "client_id": "someone-else"}
    response = http.post("/token", data=form, headers=basic(*registered))
    assert_oauth_error(response, 400, "invalid_request")


def test_missing_credentials_are_401_invalid_client(http: TestClient) -> None:
    response = http.post("/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(response, 401, "invalid_client")
    assert "www-authenticate" in response.headers


def test_a_client_id_without_a_secret_does_not_authenticate_a_confidential_client(
    http: TestClient, registered: tuple[str, str]
) -> None:
    form = {"grant_type": "client_credentials", "client_id": registered[0]}
    assert_oauth_error(http.post("/token", data=form), 401, "invalid_client")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b":secret-without-id").decode(),
        "Basic " + base64.b64encode(b"id:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"%zz:%zz").decode(),
        "Basic",
    ],
)
def test_a_malformed_basic_header_is_401_invalid_client(
    http: TestClient, authorization: str
) -> None:
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_form_urlencoded_basic_credentials_are_decoded(
    http: TestClient, database: Database
) -> None:
    # RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding.
    client, secret = make_client(database)
    assert secret is not None
    encoded = base64.b64encode(f"{client.client_id}:{secret}".replace("-", "%2D").encode())
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + encoded.decode()},
    )
    assert response.status_code == 200, response.text


def test_the_secret_is_stored_only_as_a_hash(database: Database) -> None:
    from sqlalchemy import text

    client, secret = make_client(database)
    assert secret is not None
    with database.transaction() as session:
        row = session.execute(
            text("SELECT * FROM clients WHERE client_id = :id"), {"id": client.client_id}
        ).one()
    assert secret not in [str(value) for value in row]
    assert len(secret) >= 43  # 32 random bytes, base64url: 256 bits
