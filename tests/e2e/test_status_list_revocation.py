"""Revocation reaches offline verifiers (draft-ietf-oauth-status-list-18), end to end.

Real processes: `authserver serve` with a short status-list `ttl`, the orders example
(FastAPI, `authserver.resource`) and the invoices example (Express with jose and its own
few lines of status check), each verifying tokens offline. A user's token is accepted;
`authserver users revoke-sessions` ends that user's sessions; within the `ttl` (plus the
server's one-second rebuild) the same token is refused with 401 `invalid_token`, while
another user's token is still accepted. No request per token reaches the issuer.
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import copy_of_template_keys, database_for_a_test
from tests.e2e.examples import (
    express_dependencies_problem,
    running_express_example,
    running_fastapi_example,
)
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_user, make_web_app
from tests.flows import code_flow_tokens

pytestmark = pytest.mark.e2e

ORDERS = "https://orders.example.test"
INVOICES = "https://invoices.example.test"
TTL_S = 2
# service -> (audience, path, scope)
SERVICES = {
    "orders (FastAPI)": (ORDERS, "/orders", "orders:read"),
    "invoices (Express)": (INVOICES, "/invoices", "invoices:read"),
}


@dataclass
class Deployment:
    issuer: str
    environment: dict[str, str]
    web_app: tuple[str, str]
    service: str
    audience: str
    path: str
    scope: str

    def user_token(self, username: str) -> str:
        tokens = code_flow_tokens(
            self.issuer,
            *self.web_app,
            scope=f"openid {self.scope}",
            resource=self.audience,
            username=username,
        )
        return tokens["access_token"]

    def answer(self, token: str) -> tuple[int, str]:
        response = httpx.get(
            f"{self.service}{self.path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        return response.status_code, response.headers.get("www-authenticate", "")


@contextmanager
def resource_service(name: str, issuer: str, logs: Path) -> Iterator[str]:
    audience, path, _ = SERVICES[name]
    if name.startswith("invoices"):
        problem = express_dependencies_problem()
        if problem is not None:
            pytest.skip(problem)
        with running_express_example(issuer, audience, path, logs) as base_url:
            yield base_url
    else:
        with running_fastapi_example("orders", issuer, audience, path, logs) as base_url:
            yield base_url


@pytest.fixture(
    params=[
        pytest.param(("sqlite", "orders (FastAPI)"), id="sqlite-fastapi"),
        pytest.param(
            ("postgresql", "orders (FastAPI)"),
            id="postgresql-fastapi",
            marks=pytest.mark.postgresql,
        ),
        pytest.param(("sqlite", "invoices (Express)"), id="sqlite-express"),
    ]
)
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, template_keys_dir: Path
) -> Iterator[Deployment]:
    database_name, service_name = request.param
    audience, path, scope = SERVICES[service_name]
    url = request.getfixturevalue(f"{database_name}_url")
    keys_dir = copy_of_template_keys(template_keys_dir, tmp_path)
    with ExitStack() as stack:
        database = stack.enter_context(contextmanager(database_for_a_test)(url))
        web_app, secret = make_web_app(
            database, scope=f"openid {scope}", audiences=[audience], skip_consent=True
        )
        make_user(database, "alice")
        make_user(database, "bob")
        assert secret is not None
        environment = cli_environment(database.url, keys_dir, AUTHSERVER_STATUS_LIST_TTL=str(TTL_S))
        issuer = stack.enter_context(running_server(environment))
        service = stack.enter_context(resource_service(service_name, issuer, tmp_path))
        environment = {**environment, "AUTHSERVER_ISSUER": issuer}
        yield Deployment(
            issuer, environment, (web_app.client_id, secret), service, audience, path, scope
        )


def test_a_revoked_users_token_is_refused_offline_within_the_ttl(deployment: Deployment) -> None:
    alice, bob = deployment.user_token("alice"), deployment.user_token("bob")
    assert deployment.answer(alice)[0] == 200
    assert deployment.answer(bob)[0] == 200

    revoked = run_cli(deployment.environment, "users", "revoke-sessions", "alice")
    assert revoked.returncode == 0, revoked.stderr
    ended_at = time.monotonic()

    # The verifier holds the list for its ttl; the server rebuilds it within a second.
    deadline = ended_at + TTL_S + 1 + 2  # and 2 s for this machine's noise
    status, challenge = deployment.answer(alice)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, challenge = deployment.answer(alice)
    assert status == 401, "alice's token was still accepted after the ttl"
    assert 'error="invalid_token"' in challenge and "revoked" in challenge
    assert deployment.answer(bob)[0] == 200
