"""Strict-Transport-Security on every response when the issuer is https, and never with
an http issuer (RFC 6797 §7.1, §7.2; issue 14, item 3)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authserver.app import create_app
from authserver.db import Database
from tests.conftest import make_settings

HTTPS_ISSUER = "https://auth.example.test"
HSTS = "max-age=31536000"

# One request of every kind of answer: the HTML pages, an OAuth redirect, the hot paths'
# JSON errors, the documents answered from memory, FastAPI's 404 and 405, the probes,
# the stylesheet, a CORS preflight.
REQUESTS: dict[str, Callable[[TestClient], Response]] = {
    "login page": lambda http: http.get("/login"),
    "authorize error page": lambda http: http.get("/authorize?client_id=nobody"),
    "logout page": lambda http: http.get("/logout"),
    "token error": lambda http: http.post("/token", data={"grant_type": "client_credentials"}),
    "introspection error": lambda http: http.post("/introspect", data={"token": "x"}),
    "revocation error": lambda http: http.post("/revoke", data={"token": "x"}),
    "pushed authorization request error": lambda http: http.post("/par", data={}),
    "userinfo error": lambda http: http.get("/userinfo"),
    "jwks": lambda http: http.get("/.well-known/jwks.json"),
    "discovery": lambda http: http.get("/.well-known/openid-configuration"),
    "not found": lambda http: http.get("/no-such-page"),
    "method not allowed": lambda http: http.delete("/token"),
    "health": lambda http: http.get("/healthz"),
    "stylesheet": lambda http: http.get("/assets/authserver.css"),
    "preflight": lambda http: http.options(
        "/token",
        headers={"Origin": "https://app.example.test", "Access-Control-Request-Method": "POST"},
    ),
}


def client_for(database: Database, keys_dir: Path, issuer: str) -> TestClient:
    settings = make_settings(issuer=issuer, database_url=database.url, keys_dir=keys_dir)
    return TestClient(create_app(settings), base_url=issuer)


@pytest.fixture
def https_issuer(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    with client_for(database, keys_dir, HTTPS_ISSUER) as client:
        yield client


@pytest.mark.parametrize("kind", REQUESTS)
def test_with_an_https_issuer_every_response_carries_hsts_once(
    https_issuer: TestClient, kind: str
) -> None:
    # RFC 6797 §7.1: every response over secure transport; §6.1: max-age is required,
    # and one header field (§8.1: a browser heeds only the first).
    response = REQUESTS[kind](https_issuer)
    assert response.headers.get_list("strict-transport-security") == [HSTS]


def test_with_an_http_issuer_no_response_carries_hsts(http: TestClient) -> None:
    # RFC 6797 §7.2: never over non-secure transport, which an http issuer says it is.
    for kind, request in REQUESTS.items():
        response = request(http)
        assert "strict-transport-security" not in response.headers, kind
