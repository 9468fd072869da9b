"""A real `authserver serve` process, a real OAuth client, a real JWKS client."""

import json
import threading
from pathlib import Path

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from authserver.db import Database
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    # Reload the key store every 0.2 s so a rotation is seen quickly.
    return cli_environment(database.url, keys_dir, AUTHSERVER_KEYS_RELOAD_INTERVAL="0")


@pytest.fixture
def credentials(database: Database) -> tuple[str, str]:
    client, secret = make_client(database, scope="reports:read")
    assert secret is not None
    return client.client_id, secret


def fetch_token(base_url: str, credentials: tuple[str, str]) -> str:
    """With Authlib's own OAuth 2.0 client, as an application would."""
    client_id, secret = credentials
    with OAuth2Client(client_id, secret, scope="reports:read") as oauth:
        token = oauth.fetch_token(f"{base_url}/token", grant_type="client_credentials")
    return token["access_token"]


def verify(base_url: str, token: str) -> dict[str, object]:
    """As a resource service elsewhere: only the JWKS URL, no shared secret."""
    jwks_client = PyJWKClientNoCache(f"{base_url}/.well-known/jwks.json")
    key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=base_url, issuer=base_url)


class PyJWKClientNoCache(jwt.PyJWKClient):
    def __init__(self, uri: str) -> None:
        super().__init__(uri, cache_keys=False, cache_jwk_set=False)


def test_a_token_from_a_real_server_verifies_through_the_jwks(
    environment: dict[str, str], credentials: tuple[str, str]
) -> None:
    with running_server(environment) as base_url:
        token = fetch_token(base_url, credentials)
        claims = verify(base_url, token)
        discovery = httpx.get(f"{base_url}/.well-known/openid-configuration").json()

    header = jwt.get_unverified_header(token)
    # RFC 9068 §2.1-2.2.
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == base_url == discovery["issuer"]
    assert claims["sub"] == claims["client_id"] == credentials[0]
    assert claims["scope"] == "reports:read"
    assert {"exp", "iat", "jti", "aud"} <= set(claims)


def test_after_a_rotation_old_tokens_verify_and_new_ones_use_the_new_key(
    environment: dict[str, str], credentials: tuple[str, str]
) -> None:
    with running_server(environment) as base_url:
        old_token = fetch_token(base_url, credentials)
        old_kid = jwt.get_unverified_header(old_token)["kid"]

        key_counts: list[int] = []
        stop = threading.Event()

        def watch_jwks() -> None:
            with httpx.Client() as watcher:
                while not stop.is_set():
                    body = watcher.get(f"{base_url}/.well-known/jwks.json").json()
                    key_counts.append(len(body["keys"]))

        watcher = threading.Thread(target=watch_jwks)
        watcher.start()
        try:
            rotated = run_cli(environment, "keys", "rotate", "--json")
            assert rotated.returncode == 0, rotated.stderr
            new_kid = json.loads(rotated.stdout)["current"]
            new_token = fetch_token(base_url, credentials)
        finally:
            stop.set()
            watcher.join()

        assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
        assert verify(base_url, old_token)["sub"] == credentials[0]
        assert verify(base_url, new_token)["sub"] == credentials[0]
        published = [
            k["kid"] for k in httpx.get(f"{base_url}/.well-known/jwks.json").json()["keys"]
        ]

    assert old_kid in published and new_kid in published
    assert key_counts and min(key_counts) >= 2  # never empty, not for one request


def test_two_workers_serve_tokens_that_verify(
    environment: dict[str, str], credentials: tuple[str, str]
) -> None:
    with running_server(environment, "--workers", "2") as base_url:
        tokens = [fetch_token(base_url, credentials) for _ in range(6)]
        kids = {jwt.get_unverified_header(t)["kid"] for t in tokens}
        assert all(verify(base_url, t)["sub"] == credentials[0] for t in tokens)
    assert len(kids) == 1
