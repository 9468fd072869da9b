"""/revoke and /introspect are rate-limited per client (SECURITY-CHECKLIST; RFC 6585 §4)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.db import Database
from tests.conftest import ISSUER, make_settings
from tests.factories import make_client


@pytest.fixture
def limited(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, client_rate_limit=2)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


@pytest.mark.parametrize("path", ["/revoke", "/introspect"])
def test_a_client_over_its_rate_gets_429_with_retry_after(
    limited: TestClient, database: Database, path: str
) -> None:
    client, secret = make_client(database, can_introspect=True)
    other, other_secret = make_client(database, name="Other")
    assert secret is not None and other_secret is not None
    statuses = [
        limited.post(path, data={"token": "x"}, auth=(client.client_id, secret)).status_code
        for _ in range(6)
    ]
    assert statuses[:4] == [200] * 4  # a burst of twice the rate
    response = limited.post(path, data={"token": "x"}, auth=(client.client_id, secret))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    # Another client is not affected.
    answer = limited.post(path, data={"token": "x"}, auth=(other.client_id, other_secret))
    assert answer.status_code == 200
