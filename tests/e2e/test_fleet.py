"""Two replicas of a fleet: separate hosts (separate key directories), one PostgreSQL,
the database key store (issue 10, "Tests that must exist").

- A token issued by A verifies with B's JWKS; `keys rotate` run "on A" is served by B
  within the documented bound (a PostgreSQL notification: about a second); `keys revoke`
  makes A's and B's introspection answer inactive for that key's tokens.
- Issue at A, refresh at B, reuse at A: `invalid_grant`, and the family is dead at both.
"""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import jwt
import pytest

from authserver.db import Database
from tests.conftest import database_for_a_test
from tests.e2e.processes import cli_environment, free_port, run_cli, running_server
from tests.factories import SERVICE_AUDIENCE, make_client, make_user, make_web_app
from tests.flows import code_flow_tokens, service_token

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

# The bound docs/deployment.md promises for a change to reach every replica: notified at
# once; polled every AUTHSERVER_KEYS_RELOAD_INTERVAL (10 s by default) if a notice is lost.
PROPAGATION_BOUND_S = 5.0


@pytest.fixture
def pg_database(postgresql_url: str) -> Iterator[Database]:
    yield from database_for_a_test(postgresql_url)


class Fleet:
    """Replicas A and B with their own key directories, one database, one issuer."""

    def __init__(self, stack: ExitStack, database: Database, tmp_path: Path) -> None:
        port_a = free_port()
        self.issuer = f"http://127.0.0.1:{port_a}"
        self.environments = [
            cli_environment(
                database.url,
                tmp_path / f"host-{name}" / "keys",
                AUTHSERVER_KEYS_STORE="database",
                AUTHSERVER_ISSUER=self.issuer,
            )
            for name in ("a", "b")
        ]
        self.a = stack.enter_context(running_server(self.environments[0], port=port_a))
        self.b = stack.enter_context(running_server(self.environments[1]))

    def cli(self, *arguments: str) -> str:
        """An admin command run on host A."""
        result = run_cli(self.environments[0], *arguments)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def fleet(pg_database: Database, tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield Fleet(stack, pg_database, tmp_path)


@pytest.fixture
def service(pg_database: Database) -> tuple[str, str]:
    client, secret = make_client(pg_database, can_introspect=True)
    assert secret is not None
    return client.client_id, secret


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def verify_with_jwks_of(base_url: str, token: str, issuer: str) -> dict[str, object]:
    keys = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json", cache_jwk_set=False)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=["RS256"], audience=SERVICE_AUDIENCE, issuer=issuer
    )


def active(base_url: str, token: str, service: tuple[str, str]) -> bool:
    response = httpx.post(f"{base_url}/introspect", data={"token": token}, auth=service)
    assert response.status_code == 200, response.text
    return response.json()["active"]


def seconds_until(condition: Callable[[], bool], bound: float) -> float:
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < bound, f"not within {bound} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_replicas_sign_and_publish_the_same_keys(
    fleet: Fleet, service: tuple[str, str]
) -> None:
    from_a, from_b = service_token(fleet.a, service), service_token(fleet.b, service)
    assert kid_of(from_a) == kid_of(from_b)
    assert verify_with_jwks_of(fleet.b, from_a, fleet.issuer)["client_id"] == service[0]
    assert verify_with_jwks_of(fleet.a, from_b, fleet.issuer)["client_id"] == service[0]
    a_jwks = httpx.get(f"{fleet.a}/.well-known/jwks.json").json()
    assert a_jwks == httpx.get(f"{fleet.b}/.well-known/jwks.json").json()
    assert len(a_jwks["keys"]) == 2


def test_a_rotation_on_a_reaches_b_within_the_bound(
    fleet: Fleet, service: tuple[str, str], record_property: Callable[[str, object], None]
) -> None:
    before = kid_of(service_token(fleet.b, service))
    promoted = fleet.cli("keys", "rotate", "--json")
    new_kid = json.loads(promoted)["current"]
    assert new_kid != before
    took = seconds_until(
        lambda: kid_of(service_token(fleet.b, service)) == new_kid, PROPAGATION_BOUND_S
    )
    record_property("rotation_reached_b_seconds", round(took, 3))
    print(f"rotation reached replica B in {took:.3f} s")
    token = service_token(fleet.b, service)
    assert verify_with_jwks_of(fleet.a, token, fleet.issuer)
    jwks_b = [key["kid"] for key in httpx.get(f"{fleet.b}/.well-known/jwks.json").json()["keys"]]
    assert jwks_b[0] == new_kid and before in jwks_b  # the retired key stays published


def test_an_emergency_revoke_on_a_makes_its_tokens_inactive_at_a_and_b(
    fleet: Fleet, service: tuple[str, str]
) -> None:
    token = service_token(fleet.a, service)
    assert active(fleet.a, token, service) and active(fleet.b, token, service)
    fleet.cli("keys", "revoke", kid_of(token))
    seconds_until(lambda: not active(fleet.b, token, service), PROPAGATION_BOUND_S)
    seconds_until(lambda: not active(fleet.a, token, service), PROPAGATION_BOUND_S)
    for base_url in (fleet.a, fleet.b):
        kids = [k["kid"] for k in httpx.get(f"{base_url}/.well-known/jwks.json").json()["keys"]]
        assert kid_of(token) not in kids and len(kids) == 2
        assert kid_of(service_token(base_url, service)) != kid_of(token)


def test_issue_at_a_refresh_at_b_reuse_at_a_kills_the_family_everywhere(
    fleet: Fleet, pg_database: Database, service: tuple[str, str]
) -> None:
    client, secret = make_web_app(pg_database, skip_consent=True)
    assert secret is not None
    make_user(pg_database)
    tokens = code_flow_tokens(
        fleet.a, client.client_id, secret, scope="openid orders:read", resource=SERVICE_AUDIENCE
    )
    auth = (client.client_id, secret)
    refreshed = httpx.post(
        f"{fleet.b}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert refreshed.status_code == 200, refreshed.text
    newest = refreshed.json()
    reused = httpx.post(
        f"{fleet.a}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    for base_url in (fleet.a, fleet.b):
        again = httpx.post(
            f"{base_url}/token",
            data={"grant_type": "refresh_token", "refresh_token": newest["refresh_token"]},
            auth=auth,
        )
        assert again.json()["error"] == "invalid_grant"
        assert not active(base_url, newest["access_token"], service)
        assert not active(base_url, newest["refresh_token"], service)
