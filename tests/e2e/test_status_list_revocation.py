"""Revocation reaches an offline verifier (draft-ietf-oauth-status-list-18), end to end.

Real processes: `authserver serve` with a short status-list `ttl`, and the orders example
(FastAPI, `authserver.resource`) verifying tokens offline. A user's token is accepted;
`authserver users revoke-sessions` ends that user's sessions; within the `ttl` (plus the
server's one-second rebuild) the same token is refused with 401 `invalid_token`, while
another user's token is still accepted. No request per token reaches the issuer.
"""

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_for_a_test
from tests.e2e.examples import running_fastapi_example
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_user, make_web_app
from tests.flows import code_flow_tokens

pytestmark = pytest.mark.e2e

ORDERS = "https://orders.example.test"
TTL_S = 2


@dataclass
class Deployment:
    issuer: str
    environment: dict[str, str]
    web_app: tuple[str, str]
    orders: str

    def user_token(self, username: str) -> str:
        tokens = code_flow_tokens(
            self.issuer,
            *self.web_app,
            scope="openid orders:read",
            resource=ORDERS,
            username=username,
        )
        return tokens["access_token"]

    def orders_status(self, token: str) -> tuple[int, str]:
        response = httpx.get(
            f"{self.orders}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        return response.status_code, response.headers.get("www-authenticate", "")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, template_keys_dir: Path
) -> Iterator[Deployment]:
    url = request.getfixturevalue(f"{request.param}_url")
    keys_dir = tmp_path / "keys"
    shutil.copytree(template_keys_dir, keys_dir)
    keys_dir.chmod(0o700)
    with contextmanager(database_for_a_test)(url) as database:
        web_app, secret = make_web_app(
            database, scope="openid orders:read", audiences=[ORDERS], skip_consent=True
        )
        make_user(database, "alice")
        make_user(database, "bob")
        assert secret is not None
        environment = cli_environment(database.url, keys_dir, AUTHSERVER_STATUS_LIST_TTL=str(TTL_S))
        with (
            running_server(environment) as issuer,
            running_fastapi_example("orders", issuer, ORDERS, "/orders", tmp_path) as orders,
        ):
            environment = {**environment, "AUTHSERVER_ISSUER": issuer}
            yield Deployment(issuer, environment, (web_app.client_id, secret), orders)


def test_a_revoked_users_token_is_refused_offline_within_the_ttl(deployment: Deployment) -> None:
    alice, bob = deployment.user_token("alice"), deployment.user_token("bob")
    assert deployment.orders_status(alice)[0] == 200
    assert deployment.orders_status(bob)[0] == 200

    revoked = run_cli(deployment.environment, "users", "revoke-sessions", "alice")
    assert revoked.returncode == 0, revoked.stderr
    ended_at = time.monotonic()

    # The verifier holds the list for its ttl; the server rebuilds it within a second.
    deadline = ended_at + TTL_S + 1 + 2  # and 2 s for this machine's noise
    status, challenge = deployment.orders_status(alice)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, challenge = deployment.orders_status(alice)
    assert status == 401, "alice's token was still accepted after the ttl"
    assert 'error="invalid_token"' in challenge and "revoked" in challenge
    assert deployment.orders_status(bob)[0] == 200
