"""OpenID Connect Back-Channel Logout 1.0 from the durable outbox, with real processes.

A client registered with `--backchannel-logout-uri` receives a Logout Token (§2.4) that
validates with `authserver.resource.LogoutTokenValidator` and with PyJWT's `PyJWKClient`
when a session it received tokens in ends: RP-initiated logout, `users revoke-sessions`,
session expiry, refresh-token reuse. With the endpoint down the server retries and
delivers once it is back, across a server restart too; two servers on one PostgreSQL
deliver each message once; a message that keeps failing is given up and recorded.
"""

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from authserver.clients.models import Client
from authserver.db import Database
from authserver.jose.claims import LOGOUT_EVENT
from authserver.resource import InvalidLogoutToken, LogoutTokenValidator
from tests.conftest import copy_of_template_keys, database_for_a_test
from tests.e2e.examples import running_fastapi_example
from tests.e2e.logout_receiver import Receiver, running_receiver
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code

pytestmark = pytest.mark.e2e

FAST_OUTBOX = {"AUTHSERVER_OUTBOX_INTERVAL": "0.1", "AUTHSERVER_OUTBOX_MAX_BACKOFF": "0.4"}


@dataclass
class Deployment:
    database: Database
    keys_dir: Path
    environment: dict[str, str]
    client: tuple[str, str]
    receiver: Receiver
    browsers: list[httpx.Client] = field(default_factory=list)

    def sign_in(
        self, base_url: str, username: str = "alice"
    ) -> tuple[httpx.Client, dict[str, Any]]:
        """A browser signed in through the code flow, and the client's tokens."""
        browser = httpx.Client(base_url=base_url, timeout=10)
        self.browsers.append(browser)
        pkce = Pkce()
        code = code_of(browser, self.client[0], pkce, scope="openid", username=username)
        response = exchange_code(browser, *self.client, code, pkce.verifier)
        assert response.status_code == 200, response.text
        return browser, response.json()

    def cli(self, *arguments: str) -> str:
        result = run_cli(self.environment, *arguments)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def outbox(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("outbox", "list", "--json"))


@contextmanager
def deployment_on(
    url: str, tmp_path: Path, template_keys_dir: Path, **settings: str
) -> Iterator[Deployment]:
    keys_dir = copy_of_template_keys(template_keys_dir, tmp_path)
    with (
        contextmanager(database_for_a_test)(url) as database,
        running_receiver() as receiver,
    ):
        client, secret = make_web_app(
            database,
            scope="openid",
            skip_consent=True,
            backchannel_logout_uri=receiver.url,
            grant_types=["authorization_code", "refresh_token"],
        )
        make_user(database, "alice")
        assert secret is not None
        environment = cli_environment(database.url, keys_dir, **FAST_OUTBOX, **settings)
        deployment = Deployment(
            database, keys_dir, environment, (client.client_id, secret), receiver
        )
        try:
            yield deployment
        finally:
            for browser in deployment.browsers:
                browser.close()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_logout_token(token: str, base_url: str, client_id: str, session: dict[str, Any]) -> None:
    """§2.4 and §2.6, checked twice: with the project's helper and with PyJWT."""
    id_token = claims_of(session["id_token"])
    validator = LogoutTokenValidator(base_url, client_id)
    logout = validator.validate(token)
    assert (logout.sid, logout.sub) == (id_token["sid"], id_token["sub"])
    with pytest.raises(InvalidLogoutToken, match="already received"):
        validator.validate(token)  # §2.6 step 10: a jti once
    validator.close()
    assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
    signing_key = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=base_url,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "sid", "sub", "events"]},
    )
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] <= 120


def test_rp_initiated_logout_sends_a_logout_token(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with (
        deployment_on(database_url, tmp_path, template_keys_dir) as deployment,
        running_server(deployment.environment) as base_url,
    ):
        metadata = httpx.get(f"{base_url}/.well-known/openid-configuration").json()
        assert metadata["backchannel_logout_supported"] is True
        assert metadata["backchannel_logout_session_supported"] is True
        browser, session = deployment.sign_in(base_url)
        assert "sid" in claims_of(session["id_token"])
        ended = browser.get("/logout", params={"id_token_hint": session["id_token"]})
        assert ended.status_code == 200
        [token] = deployment.receiver.wait_for(1)
        assert_logout_token(token, base_url, deployment.client[0], session)
        time.sleep(0.5)
        assert len(deployment.receiver.received()) == 1  # one message, delivered once
        assert deployment.outbox() == []


def test_revoke_sessions_sends_one_logout_token_per_session(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with (
        deployment_on(database_url, tmp_path, template_keys_dir) as deployment,
        running_server(deployment.environment) as base_url,
    ):
        sessions = [deployment.sign_in(base_url)[1] for _ in range(2)]
        deployment.cli("users", "revoke-sessions", "alice")
        tokens = deployment.receiver.wait_for(2)
        by_sid = {claims_of(t)["sid"]: t for t in tokens}
        assert set(by_sid) == {claims_of(s["id_token"])["sid"] for s in sessions}
        for session in sessions:
            sid = claims_of(session["id_token"])["sid"]
            assert_logout_token(by_sid[sid], base_url, deployment.client[0], session)


def test_an_expired_session_sends_a_logout_token(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with (
        deployment_on(
            database_url, tmp_path, template_keys_dir, AUTHSERVER_SESSION_IDLE_TTL="2"
        ) as deployment,
        running_server(deployment.environment) as base_url,
    ):
        _, session = deployment.sign_in(base_url)
        [token] = deployment.receiver.wait_for(1, timeout=10)
        assert_logout_token(token, base_url, deployment.client[0], session)


def test_refresh_token_reuse_ends_the_session_and_sends_a_logout_token(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with (
        deployment_on(database_url, tmp_path, template_keys_dir) as deployment,
        running_server(deployment.environment) as base_url,
    ):
        _, session = deployment.sign_in(base_url)
        form = {"grant_type": "refresh_token", "refresh_token": session["refresh_token"]}
        assert httpx.post(f"{base_url}/token", data=form, auth=deployment.client).is_success
        replay = httpx.post(f"{base_url}/token", data=form, auth=deployment.client)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        [token] = deployment.receiver.wait_for(1)
        assert_logout_token(token, base_url, deployment.client[0], session)


def test_an_endpoint_that_is_down_gets_the_token_once_back_even_across_a_restart(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with deployment_on(database_url, tmp_path, template_keys_dir) as deployment:
        deployment.receiver.status = 503
        with running_server(deployment.environment) as base_url:
            browser, session = deployment.sign_in(base_url)
            browser.get("/logout", params={"id_token_hint": session["id_token"]})
            deadline = time.monotonic() + 10
            while deployment.receiver.refused < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert deployment.receiver.refused >= 3  # retried, with backoff
        [pending] = deployment.outbox()
        assert pending["state"] == "pending" and pending["last_error"] == "answered 503"
        deployment.receiver.status = 200
        with running_server(deployment.environment) as base_url:
            [token] = deployment.receiver.wait_for(1)
            assert_logout_token(token, base_url, deployment.client[0], session)
            assert deployment.outbox() == []


def test_a_message_that_keeps_failing_is_given_up_and_recorded(
    database_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with deployment_on(
        database_url, tmp_path, template_keys_dir, AUTHSERVER_BACKCHANNEL_LOGOUT_GIVE_UP="2"
    ) as deployment:
        deployment.receiver.status = 500
        with running_server(deployment.environment) as base_url:
            deployment.sign_in(base_url)
            deployment.cli("users", "revoke-sessions", "alice")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                messages = deployment.outbox()
                if messages and messages[0]["state"] == "failed":
                    break
                time.sleep(0.2)
        [failed] = messages
        assert failed["state"] == "failed" and failed["last_error"] == "answered 500"
        assert failed["attempts"] >= 2 and failed["given_up_at"]
        events = json.loads(
            deployment.cli("audit", "list", "--event", "backchannel_logout.given_up", "--json")
        )
        assert len(events) == 1 and events[0]["client_id"] == deployment.client[0]
        assert deployment.receiver.tokens == []


@pytest.mark.postgresql
def test_two_servers_on_one_database_deliver_each_message_once(
    postgresql_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with deployment_on(postgresql_url, tmp_path, template_keys_dir) as deployment:
        deployment.receiver.delay = 0.05  # deliveries overlap between the two servers
        with ExitStack() as servers:
            first = servers.enter_context(running_server(deployment.environment))
            servers.enter_context(running_server(deployment.environment))
            sessions = [deployment.sign_in(first)[1] for _ in range(12)]
            deployment.cli("users", "revoke-sessions", "alice")
            tokens = deployment.receiver.wait_for(12, timeout=20)
            time.sleep(1.0)  # anything delivered twice would have arrived by now
        tokens = deployment.receiver.received()
        assert len(tokens) == 12
        assert {claims_of(t)["sid"] for t in tokens} == {
            claims_of(s["id_token"])["sid"] for s in sessions
        }


def test_the_example_web_app_ends_its_session_on_the_logout_token(
    sqlite_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with ExitStack() as stack:
        deployment = stack.enter_context(deployment_on(sqlite_url, tmp_path, template_keys_dir))
        base_url = stack.enter_context(running_server(deployment.environment))
        web_app = stack.enter_context(example_web_app(base_url, deployment, tmp_path))
        browser, session = deployment.sign_in(base_url)
        id_token = claims_of(session["id_token"])
        signed_in = {"sid": id_token["sid"], "sub": id_token["sub"]}
        assert httpx.post(f"{web_app}/sessions", json=signed_in).status_code == 201
        state = f"{web_app}/sessions/{id_token['sid']}"
        assert httpx.get(state).json() == {"signed_in": True}
        browser.get("/logout", params={"id_token_hint": session["id_token"]})
        deadline = time.monotonic() + 10
        while httpx.get(state).json()["signed_in"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(state).json() == {"signed_in": False}
        forged = {"logout_token": "x.y.z"}
        assert httpx.post(f"{web_app}/backchannel-logout", data=forged).status_code == 400


@contextmanager
def example_web_app(base_url: str, deployment: Deployment, tmp_path: Path) -> Iterator[str]:
    """examples/webapp, and the client pointed at it instead of the test receiver."""
    with running_fastapi_example(
        "webapp", base_url, "unused", "/sessions/none", tmp_path, CLIENT_ID=deployment.client[0]
    ) as web_app:
        with deployment.database.transaction() as db:
            client = db.get(Client, deployment.client[0])
            assert client is not None
            client.backchannel_logout_uri = f"{web_app}/backchannel-logout"
            db.add(client)
        yield web_app


def test_disabling_a_user_sends_a_logout_token(
    sqlite_url: str, tmp_path: Path, template_keys_dir: Path
) -> None:
    with (
        deployment_on(sqlite_url, tmp_path, template_keys_dir) as deployment,
        running_server(deployment.environment) as base_url,
    ):
        _, session = deployment.sign_in(base_url)
        deployment.cli("users", "disable", "alice")
        [token] = deployment.receiver.wait_for(1)
        assert_logout_token(token, base_url, deployment.client[0], session)
