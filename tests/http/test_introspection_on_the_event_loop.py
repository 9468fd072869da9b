"""/introspect of a JWT access token, by a client the server holds in memory, is answered
on the event loop (authserver.loop_reads: on PostgreSQL the token's state read with
psycopg's async connection, on SQLite with the process's own read connection; no worker
thread, not the server's engine). RFC 7662 §2.2: the answers must be exactly those of the
thread path, for every state a token can be in.

Elsewhere the tests run with the client cache off (`client_cache_ttl=0`), so every
introspection takes the thread path; here it is on, as in production.
"""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authserver.db import Database
from authserver.settings import Settings
from tests.conftest import end_other_backends, make_settings
from tests.factories import make_client
from tests.flows import Grant
from tests.http.test_checklist_revoke_introspect import (
    STATES,
    UNREACHABLE,
    State,
    assert_unavailable,
    is_active,
)
from tests.http.tokens import assert_oauth_error, basic

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def settings(database: Database, keys_dir: Path) -> Settings:
    return make_settings(database_url=database.url, keys_dir=keys_dir, client_cache_ttl=300)


@pytest.fixture
def introspector(database: Database) -> dict[str, str]:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    return basic(client.client_id, secret)


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_introspection_with_cached_clients_agrees_with_the_rule_on_every_state(
    http: TestClient, database: Database, grant: Grant, introspector: dict[str, str], state: State
) -> None:
    """RFC 7662 §2.2, on SQLite and PostgreSQL (the event loop for the access token, the
    thread path for the refresh token): `active` is what tokens/validity.py says."""
    assert is_active(http, introspector, grant.access_token)  # the introspector now cached
    state.enter(http, database, grant)
    assert is_active(http, introspector, grant.access_token) == state.access_token_good
    assert is_active(http, introspector, grant.refresh_token) == state.refresh_token_good


def test_the_event_loop_path_reads_without_the_servers_sqlalchemy_engine(
    http: TestClient, grant: Grant, introspector: dict[str, str]
) -> None:
    """Proof that the path is taken: with the engine of the thread path pointed at a
    server where nothing listens, a JWT's introspection still reads the true state (a
    revocation included), while a refresh token's, which takes the thread path, is 503."""
    assert is_active(http, introspector, grant.access_token)
    assert http.post("/revoke", data={"token": grant.access_token}, **grant.auth).status_code == 200
    oauth = http.app.state.services.oauth  # type: ignore[attr-defined]
    working = oauth.database
    oauth.database = Database(UNREACHABLE)
    try:
        assert not is_active(http, introspector, grant.access_token)
        refresh = {"token": grant.refresh_token}
        assert_unavailable(http.post("/introspect", data=refresh, headers=introspector))
    finally:
        oauth.database.dispose()
        oauth.database = working


def test_a_wrong_secret_is_refused_on_the_event_loop_path_as_on_the_thread_path(
    http: TestClient, grant: Grant, introspector: dict[str, str]
) -> None:
    """RFC 6749 §5.2 / RFC 7662 §2.1: invalid_client, 401, whichever path answers."""
    assert is_active(http, introspector, grant.access_token)
    headers = basic(grant.client_id, "not-the-secret")
    response = http.post("/introspect", data={"token": grant.access_token}, headers=headers)
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.postgresql
@ON_POSTGRESQL
def test_connections_ended_by_postgresql_cost_at_most_one_503_then_recover(
    http: TestClient, database: Database, grant: Grant, introspector: dict[str, str]
) -> None:
    """A failover or restart ends the event loop's connections: the next introspection is
    answered truly or with 503 temporarily_unavailable (never a 500, never a wrong
    answer), and the one after it truly, on a new connection."""
    assert is_active(http, introspector, grant.access_token)
    end_other_backends(database)
    response = http.post("/introspect", data={"token": grant.access_token}, headers=introspector)
    if response.status_code != 200:
        assert_unavailable(response)
    else:
        assert response.json()["active"] is True
    assert is_active(http, introspector, grant.access_token)
