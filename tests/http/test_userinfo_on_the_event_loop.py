"""/userinfo with a bearer token is answered on the event loop (authserver.loop_reads):
the signature checked in memory, the token's state and its user read in one read (on
PostgreSQL one round trip with psycopg's async connection, on SQLite on the process's own
read connection), no worker thread, not the server's engine. OIDC Core §5.3 and RFC 6750
§3: the answers must be those of the thread path; test_userinfo.py runs every case on
both databases, so through this path. Here: proof that the path is taken.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from tests.conftest import end_other_backends
from tests.flows import Grant
from tests.http.test_checklist_revoke_introspect import UNREACHABLE, assert_unavailable
from tests.http.test_userinfo import assert_invalid_token, authorize_for, grant, userinfo
from tests.http.tokens import claims_of

__all__ = ["authorize_for", "grant"]  # fixtures

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@contextmanager
def thread_path_unreachable(http: TestClient) -> Iterator[None]:
    """The engine of the thread path pointed at a server where nothing listens."""
    services = http.app.state.services  # type: ignore[attr-defined]
    working = services.database
    services.database = Database(UNREACHABLE)
    try:
        yield
    finally:
        services.database.dispose()
        services.database = working


def test_the_claims_are_read_without_the_servers_sqlalchemy_engine(
    http: TestClient, grant: Grant
) -> None:
    """OIDC Core §5.3.2: `sub` and the `openid profile email` claims, answered with the
    thread path's database unreachable (it would answer 503)."""
    with thread_path_unreachable(http):
        response = userinfo(http, grant.access_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sub"] == claims_of(grant.access_token)["sub"]
    assert {"preferred_username", "name", "updated_at"} <= body.keys()


def test_a_revocation_is_seen_without_the_servers_sqlalchemy_engine(
    http: TestClient, grant: Grant
) -> None:
    """RFC 7009 §2: revoked, the token is refused (401 invalid_token, RFC 6750 §3.1),
    as the event loop reads the deny list itself."""
    assert http.post("/revoke", data={"token": grant.access_token}, **grant.auth).status_code == 200
    with thread_path_unreachable(http):
        assert_invalid_token(userinfo(http, grant.access_token))


@pytest.mark.postgresql
@ON_POSTGRESQL
def test_connections_ended_by_postgresql_cost_at_most_one_503_then_recover(
    http: TestClient, database: Database, grant: Grant
) -> None:
    """A failover or restart ends the event loop's connections: the next /userinfo is
    answered truly or with 503 temporarily_unavailable and Retry-After (never a 500,
    never a wrong answer), and the one after it truly, on a new connection."""
    assert userinfo(http, grant.access_token).status_code == 200
    end_other_backends(database)
    response = userinfo(http, grant.access_token)
    if response.status_code != 200:
        assert_unavailable(response)
    assert userinfo(http, grant.access_token).status_code == 200
