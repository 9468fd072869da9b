"""Hostile input at /token: always a 4xx RFC 6749 §5.2 JSON error, never a 500."""

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from tests.factories import make_client
from tests.http.tokens import assert_oauth_error, basic

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def auth(database: Database) -> dict[str, str]:
    client, secret = make_client(database)
    assert secret is not None
    return basic(client.client_id, secret)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, b"\x00\x01\x02garbage&&&==="),
        (FORM, b"grant_type=client_credentials&scope=\xff\xfe"),
        (FORM, b"grant_type=client_credentials&scope=%FF%FE"),
        (FORM, b"grant_type"),
        (FORM, b"grant_type=client_credentials&" + b"a=1&" * 70),
        (FORM, b"grant_type=client_credentials&pad=" + b"x" * 1_000_000),
        (f"{FORM}; charset=iso-8859-1", b"grant_type=client_credentials"),
        ("application/json", b'{"grant_type": "client_credentials"}'),
        ("text/plain", b"grant_type=client_credentials"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\n'
            b"client_credentials\r\n--x--\r\n",
        ),
        ("", b"grant_type=client_credentials"),
    ],
    ids=[
        "garbage",
        "raw-non-utf8",
        "percent-encoded-non-utf8",
        "name-without-value-syntax",
        "too-many-fields",
        "one-megabyte",
        "latin1-charset",
        "json",
        "text-plain",
        "multipart",
        "no-content-type",
    ],
)
def test_a_malformed_body_is_invalid_request(
    http: TestClient, auth: dict[str, str], content_type: str, body: bytes
) -> None:
    headers = {**auth, "Content-Type": content_type} if content_type else dict(auth)
    response = http.post("/token", content=body, headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


def test_a_repeated_parameter_is_invalid_request(http: TestClient, auth: dict[str, str]) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be included more than once.
    body = "grant_type=client_credentials&scope=orders:read&scope=orders:write"
    response = http.post("/token", content=body, headers={**auth, "Content-Type": FORM})
    assert_oauth_error(response, 400, "invalid_request")


def test_a_parameter_without_a_value_counts_as_omitted(
    http: TestClient, auth: dict[str, str]
) -> None:
    # RFC 6749 §3.1: sent without a value, treated as if omitted.
    body = "grant_type=client_credentials&scope=&scope="
    response = http.post("/token", content=body, headers={**auth, "Content-Type": FORM})
    assert response.status_code == 200, response.text


def test_a_body_over_the_limit_is_refused_even_without_a_content_length(
    http: TestClient, auth: dict[str, str]
) -> None:
    def chunks():
        yield b"grant_type=client_credentials&pad="
        for _ in range(40):
            yield b"x" * 1024

    response = http.post("/token", content=chunks(), headers={**auth, "Content-Type": FORM})
    assert_oauth_error(response, 400, "invalid_request")


def test_get_is_not_allowed_and_answers_json(http: TestClient) -> None:
    response = http.get("/token?grant_type=client_credentials")
    assert response.status_code == 405
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "invalid_request"


def test_an_error_never_echoes_the_input(http: TestClient, auth: dict[str, str]) -> None:
    marker = "<script>alert(1)</script>"
    for form in ({"grant_type": marker}, {"grant_type": "client_credentials", "scope": marker}):
        response = http.post("/token", data=form, headers=auth)
        assert response.status_code == 400
        assert marker not in response.text
