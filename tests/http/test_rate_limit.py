"""Per-client rate limits on /token, /revoke and /introspect (SECURITY-CHECKLIST; RFC 6585
§4), counted in the process or in Redis, and never an error when Redis is down."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.db import Database
from tests.conftest import ISSUER, make_settings
from tests.factories import make_client

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def app_with(database: Database, keys_dir: Path, **settings: object) -> TestClient:
    values = {"client_rate_limit": "3/minute", "redis_key_prefix": uuid.uuid4().hex, **settings}
    return TestClient(
        create_app(make_settings(database_url=database.url, keys_dir=keys_dir, **values)),
        base_url=ISSUER,
    )


@pytest.fixture
def limited(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    with app_with(database, keys_dir) as http:
        yield http


def call(http: TestClient, path: str, client_id: str, secret: str) -> int:
    form = {"token": "x"} if path != "/token" else {"grant_type": "client_credentials"}
    return http.post(path, data=form, auth=(client_id, secret)).status_code


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_a_client_over_its_rate_gets_429_with_retry_after(
    limited: TestClient, database: Database, path: str
) -> None:
    client, secret = make_client(database, can_introspect=True)
    other, other_secret = make_client(database, name="Other")
    assert secret is not None and other_secret is not None
    assert [call(limited, path, client.client_id, secret) for _ in range(3)] == [200] * 3
    form = {"token": "x"} if path != "/token" else {"grant_type": "client_credentials"}
    response = limited.post(path, data=form, auth=(client.client_id, secret))
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    # Another client is not affected.
    assert call(limited, path, other.client_id, other_secret) == 200


def test_each_endpoint_counts_on_its_own(limited: TestClient, database: Database) -> None:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    for path in ("/token", "/revoke", "/introspect"):
        assert [call(limited, path, client.client_id, secret) for _ in range(3)] == [200] * 3


def test_zero_turns_the_limit_off(database: Database, keys_dir: Path) -> None:
    client, secret = make_client(database)
    assert secret is not None
    with app_with(database, keys_dir, client_rate_limit="0") as http:
        assert {call(http, "/token", client.client_id, secret) for _ in range(10)} == {200}


def test_apps_sharing_redis_share_the_count(database: Database, keys_dir: Path) -> None:
    """Two server processes behave as these two apps: N in total, not 2N."""
    client, secret = make_client(database)
    assert secret is not None
    prefix = uuid.uuid4().hex
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": prefix}
    with (
        app_with(database, keys_dir, **shared) as first,
        app_with(database, keys_dir, **shared) as second,
    ):
        statuses = [call(http, "/token", client.client_id, secret) for http in (first, second) * 3]
        assert statuses.count(200) == 3 and statuses.count(429) == 3
        assert first.get("/readyz").json()["details"] == {
            "redis": "ok",
            "rate_limits": "shared (redis)",
            "login_throttle": "shared (redis)",
            "key_rotation": "ok",
        }


def test_with_redis_down_clients_are_served_and_counted_in_the_process(
    database: Database, keys_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, secret = make_client(database)
    assert secret is not None
    with app_with(database, keys_dir, redis_url=CLOSED_PORT_URL) as http:
        statuses = [call(http, "/token", client.client_id, secret) for _ in range(4)]
        ready = http.get("/readyz")
    assert statuses == [200, 200, 200, 429]
    assert ready.status_code == 200
    assert ready.json()["details"] == {
        "redis": "down",
        "rate_limits": "per process",
        "login_throttle": "shared (database)",
        "key_rotation": "ok",
    }
    assert any("Redis does not answer" in record.getMessage() for record in caplog.records)


def test_readyz_asks_redis_before_any_request_needed_it(database: Database, keys_dir: Path) -> None:
    with app_with(database, keys_dir, redis_url=CLOSED_PORT_URL) as http:
        assert http.get("/readyz").json()["details"]["redis"] == "down"
    with app_with(database, keys_dir, redis_url=REDIS_URL) as http:
        assert http.get("/readyz").json()["details"]["redis"] == "ok"


@pytest.mark.parametrize("rate", ["lots", "-5", "5/fortnight"])
def test_a_bad_rate_is_refused_with_the_variable_named(rate: str) -> None:
    from authserver.errors import ConfigurationError
    from authserver.settings import load_settings

    with pytest.raises(ConfigurationError, match="AUTHSERVER_CLIENT_RATE_LIMIT"):
        load_settings(client_rate_limit=rate)
    assert load_settings(client_rate_limit="25").client_rate_limit == "25/second"
    assert load_settings(client_rate_limit="0").client_rate_limits == []
