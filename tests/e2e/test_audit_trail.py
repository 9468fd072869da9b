"""The audit trail of a full flow against a real server: the audit table and the server's
JSON log hold every security event (login, consent, code, token, refresh, reuse, revoke,
logout, key rotation) and none of the secrets the test made (issue 10, item 5)."""

import json
from pathlib import Path

import httpx
import pytest

from authserver.db import Database
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import WEB_APP_LOGOUT_URI, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse"
WRONG_PASSWORD = "battery staple guess"


def test_a_full_flow_is_in_the_audit_table_and_the_json_log_without_secrets(
    database: Database, keys_dir: Path, tmp_path: Path
) -> None:
    client, secret = make_web_app(database)
    assert secret is not None
    user = make_user(database, "alice", PASSWORD)
    environment = cli_environment(database.url, keys_dir, AUTHSERVER_LOG_FORMAT="json")
    log = tmp_path / "server.log"
    auth = (client.client_id, secret)
    with (
        running_server(environment, "--access-log", log=log) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as browser,
    ):
        assert sign_in(browser, "alice", WRONG_PASSWORD).status_code == 200
        pkce = Pkce()
        code = code_of(browser, client.client_id, pkce, scope="openid profile")
        first = exchange_code(browser, client.client_id, secret, code, pkce.verifier).json()
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = browser.post("/token", data=refresh, auth=auth).json()
        assert browser.post("/token", data=refresh, auth=auth).json()["error"] == "invalid_grant"
        revoked = browser.post("/revoke", data={"token": second["access_token"]}, auth=auth)
        assert revoked.status_code == 200
        # A fresh sign-in and an RP-initiated logout with the id_token in the query string.
        code = code_of(browser, client.client_id, (pkce := Pkce()), scope="openid profile")
        third = exchange_code(browser, client.client_id, secret, code, pkce.verifier).json()
        session_cookie = browser.cookies.get("authserver_session")
        logout = browser.get(
            "/logout",
            params={
                "id_token_hint": third["id_token"],
                "post_logout_redirect_uri": WEB_APP_LOGOUT_URI,
            },
        )
        assert logout.status_code == 303
        rotated = run_cli(environment, "keys", "rotate", "--json")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["current"]

    listed = run_cli(environment, "audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    names = [event["event"] for event in events]
    assert names == [
        "login.failed",
        "login.succeeded",
        "consent.granted",
        "token.issued",
        "token.issued",
        "refresh.reuse_detected",
        "session.ended",  # the reuse ended the session: the next authorize signs in again
        "token.revoked",
        "login.succeeded",
        "token.issued",
        "session.ended",
        "key.rotated",
    ], names
    assert events[0]["username"] == "alice" and events[0]["user_id"] == user.id
    grants = [e["details"]["grant_type"] for e in events if e["event"] == "token.issued"]
    assert grants == ["authorization_code", "refresh_token", "authorization_code"]
    assert events[-1]["details"]["kid"] == new_kid and events[-1]["actor"].startswith("cli:")
    assert all(e["client_address"] == "127.0.0.1" for e in events[:-1])

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    logged = [line["audit"] for line in lines if "audit" in line]
    assert logged == names[:-1]  # the rotation ran in the CLI, not in the server
    by_request = {e["request_id"] for e in events[:-1]}
    assert by_request <= {line.get("request_id") for line in lines}
    access = [line for line in lines if line["logger"] == "authserver.access"]
    assert any(line["path"] == "/logout" for line in access)

    secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        secret,
        code,
        pkce.verifier,
        first["refresh_token"],
        second["refresh_token"],
        first["access_token"],
        second["access_token"],
        first["id_token"],
        third["id_token"],
        third["refresh_token"],
    ]
    assert session_cookie
    secrets.append(session_cookie)
    log_text, audit_text = log.read_text(), listed.stdout
    for value in secrets:
        assert value not in log_text
        assert value not in audit_text
    assert "PRIVATE KEY" not in log_text + audit_text
