"""SECURITY-CHECKLIST "/revoke and /introspect": a storage failure at /revoke is a 503,
never a 200; and one function decides token validity for refresh, introspection and
userinfo, so the three doors agree on every state a token can be in, on SQLite and on
PostgreSQL (whose refresh takes a one-statement path of its own, tokens/repository.py).

The rest of the section: tests/http/test_revocation.py, test_introspection.py,
test_rate_limit.py (docs/security-checklist.md maps each line).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.users.models import User
from tests.conftest import end_other_backends
from tests.factories import WEB_APP_LOGOUT_URI, make_client
from tests.flows import Grant
from tests.http.tokens import assert_oauth_error, basic

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens-here"


@pytest.fixture
def introspector(database: Database) -> dict[str, str]:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    return basic(client.client_id, secret)


def is_active(http: TestClient, introspector: dict[str, str], token: str) -> bool:
    response = http.post("/introspect", data={"token": token}, headers=introspector)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def revoke(http: TestClient, grant: Grant, token: str) -> Response:
    return http.post("/revoke", data={"token": token}, **grant.auth)


def assert_unavailable(response: Response) -> None:
    """RFC 6749 §5.2 JSON, 503 `temporarily_unavailable` with Retry-After: try again."""
    assert_oauth_error(response, 503, "temporarily_unavailable")
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_revocation_whose_storage_is_unreachable_is_503_never_200(
    http: TestClient, grant: Grant, introspector: dict[str, str], kind: str
) -> None:
    """SECURITY-CHECKLIST "/revoke": storage failure → 503, never 200 [RFC 7009 §2.2: a
    200 tells the client the token is gone; it would then forget a token still alive]."""
    token = grant.body[kind]
    oauth = http.app.state.services.oauth  # type: ignore[attr-defined]
    working = oauth.database
    oauth.database = Database(UNREACHABLE)
    try:
        assert_unavailable(revoke(http, grant, token))
    finally:
        oauth.database.dispose()
        oauth.database = working
    assert is_active(http, introspector, token)
    # Once storage is back, the retry the 503 asked for revokes it.
    assert revoke(http, grant, token).status_code == 200
    assert not is_active(http, introspector, token)


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_revocation_on_a_dropped_database_connection_is_503_never_200(
    http: TestClient, database: Database, grant: Grant, introspector: dict[str, str]
) -> None:
    """SECURITY-CHECKLIST "/revoke": storage failure → 503, never 200, with a real fault:
    PostgreSQL ends the server's connections (a failover, a restart) between requests."""
    services = http.app.state.services  # type: ignore[attr-defined]
    end_other_backends(database)
    response = revoke(http, grant, grant.refresh_token)
    assert response.status_code != 200, "a revocation that did not happen was acknowledged"
    assert_unavailable(response)
    assert services.database.ping()
    assert is_active(http, introspector, grant.refresh_token)
    assert revoke(http, grant, grant.refresh_token).status_code == 200
    assert not is_active(http, introspector, grant.refresh_token)


# --- one rule at every door ----------------------------------------------------------


@dataclass(frozen=True)
class State:
    """How a grant is put in the state, and which of its tokens must still be good."""

    enter: Callable[[TestClient, Database, Grant], object]
    refresh_token_good: bool
    access_token_good: bool


def _revoke_family(http: TestClient, _: Database, grant: Grant) -> None:
    assert revoke(http, grant, grant.refresh_token).status_code == 200


def _revoke_access_token(http: TestClient, _: Database, grant: Grant) -> None:
    assert revoke(http, grant, grant.access_token).status_code == 200


def _disable_user(_: TestClient, database: Database, __: Grant) -> None:
    with database.transaction() as session:
        session.execute(update(User).values(disabled=True))


def _delete_client(_: TestClient, database: Database, grant: Grant) -> None:
    with database.transaction() as session:
        assert ClientRepository(session).delete(grant.client_id)


def _expire_family(_: TestClient, database: Database, __: Grant) -> None:
    with database.transaction() as session:
        session.execute(update(TokenFamily).values(expires_at=utcnow() - timedelta(seconds=1)))


def _expire_idle(_: TestClient, database: Database, __: Grant) -> None:
    with database.transaction() as session:
        session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))


def _log_out(http: TestClient, _: Database, grant: Grant) -> None:
    params = {"id_token_hint": grant.id_token, "post_logout_redirect_uri": WEB_APP_LOGOUT_URI}
    assert http.get("/logout", params=params, follow_redirects=False).status_code == 303


def _rotate(http: TestClient, _: Database, grant: Grant) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    assert http.post("/token", data=form, **grant.auth).status_code == 200


STATES = {
    "as issued": State(lambda *_: None, True, True),
    "family revoked (/revoke)": State(_revoke_family, False, False),
    "access token revoked (/revoke)": State(_revoke_access_token, True, False),
    "user disabled": State(_disable_user, False, False),
    "client deleted": State(_delete_client, False, False),
    "logged out (/logout)": State(_log_out, False, False),
    # An expired family's access tokens live out their own `exp` (tokens/validity.py).
    "family past its absolute expiry": State(_expire_family, False, True),
    "refresh token past its idle expiry": State(_expire_idle, False, True),
    "refresh token rotated": State(_rotate, False, True),
}


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_refresh_introspection_and_userinfo_agree_on_every_state_of_a_grant(
    http: TestClient,
    database: Database,
    grant: Grant,
    introspector: dict[str, str],
    state: State,
) -> None:
    """SECURITY-CHECKLIST "/revoke and /introspect": one function decides token validity
    for refresh, introspection and userinfo [RFC 7662 §2.2, RFC 6750 §3.1, RFC 6749 §6].
    The refresh goes last: a dead token presented there may revoke its family."""
    state.enter(http, database, grant)

    access_introspected = is_active(http, introspector, grant.access_token)
    bearer = {"Authorization": f"Bearer {grant.access_token}"}
    userinfo = http.get("/userinfo", headers=bearer).status_code
    assert (access_introspected, userinfo == 200) == (state.access_token_good,) * 2

    refresh_introspected = is_active(http, introspector, grant.refresh_token)
    form = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token}
    refreshed = http.post("/token", data=form, **grant.auth)
    assert (refresh_introspected, refreshed.status_code == 200) == (state.refresh_token_good,) * 2
    if not state.refresh_token_good:
        # invalid_grant; or invalid_client, when the client itself is gone.
        assert refreshed.json()["error"] in ("invalid_grant", "invalid_client")
