"""The `authserver` command line, run as a real process: JSON output and exit codes 0/1/2."""

import json
from pathlib import Path

import httpx
import pytest

from authserver.db import Database
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_user, make_web_app
from tests.flows import Pkce, authorize_path, code_of, exchange_code


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


def create_client(environment: dict[str, str], *extra: str) -> dict[str, object]:
    result = run_cli(
        environment,
        "clients", "create", "--name", "Reports", "--grant-type", "client_credentials",
        "--scope", "reports:read", "--audience", "https://reports.example.test", "--json", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.e2e
def test_a_client_created_with_json_output_gets_a_token(environment: dict[str, str]) -> None:
    created = create_client(environment)
    assert set(created) >= {"client_id", "client_secret", "scope", "grant_types", "audiences"}
    assert created["public"] is False

    with running_server(environment) as base_url:
        response = httpx.post(
            f"{base_url}/token",
            data={"grant_type": "client_credentials", "resource": "https://reports.example.test"},
            auth=(str(created["client_id"]), str(created["client_secret"])),
        )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "reports:read"


def test_clients_list_shows_clients_but_never_secrets(environment: dict[str, str]) -> None:
    created = create_client(environment)
    result = run_cli(environment, "clients", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert str(created["client_secret"]) not in result.stdout
    assert "secret_hash" not in listed[0]


def test_clients_delete_removes_the_client_and_an_unknown_one_exits_1(
    environment: dict[str, str],
) -> None:
    created = create_client(environment)
    assert run_cli(environment, "clients", "delete", str(created["client_id"])).returncode == 0
    again = run_cli(environment, "clients", "delete", str(created["client_id"]))
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "no client" in again.stderr


@pytest.mark.e2e
def test_clients_create_takes_the_rfc_grant_names_and_their_short_forms(
    environment: dict[str, str],
) -> None:
    """CONTRACT: `--grant-type urn:ietf:params:oauth:grant-type:device_code` (or
    `device_code`), the same for token exchange, and `--token-exchange-audience`."""
    device = "urn:ietf:params:oauth:grant-type:device_code"
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    for device_name, exchange_name in ((device, exchange), ("device_code", "token-exchange")):
        created = run_cli(
            environment, "clients", "create", "--name", "Gateway",
            "--grant-type", device_name, "--grant-type", exchange_name,
            "--token-exchange-audience", "https://billing.example.test", "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        client = json.loads(created.stdout)
        assert client["grant_types"] == [device, exchange]
        assert client["token_exchange_audiences"] == ["https://billing.example.test"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["clients", "create", "--grant-type", "client_credentials"],
        ["clients", "create", "--name", "x", "--grant-type", "password"],
        ["clients", "create", "--name", "x", "--grant-type", "client_credentials", "--public"],
        ["clients", "create", "--name", "x", "--grant-type", "authorization_code"],
        [
            "clients", "create", "--name", "x", "--grant-type", "authorization_code",
            "--redirect-uri", "http://app.example.test/callback",
        ],
        [
            "clients", "create", "--name", "x", "--grant-type", "authorization_code",
            "--redirect-uri", "https://app.example.test/callback#fragment",
        ],
        [
            "clients", "create", "--name", "x", "--grant-type", "client_credentials",
            "--scope", 'a"b',
        ],
        ["clients", "create", "--name", "x", "--grant-type", "token-exchange"],
        [
            "clients", "create", "--name", "x", "--grant-type", "token-exchange", "--public",
            "--token-exchange-audience", "https://billing.example.test",
        ],
        [
            "clients", "create", "--name", "x", "--grant-type", "client_credentials",
            "--token-exchange-audience", "https://billing.example.test",
        ],
        [
            "clients", "create", "--name", "x", "--grant-type", "token-exchange",
            "--token-exchange-audience", "not a uri",
        ],
        ["clients", "frobnicate"],
        ["serve", "--port", "not-a-port"],
        ["users", "create", "--username", "eve"],
    ],
    ids=[
        "missing-name",
        "unknown-grant",
        "public-client-credentials",
        "code-without-redirect",
        "http-redirect-off-loopback",
        "redirect-with-fragment",
        "malformed-scope",
        "token-exchange-without-audience",
        "public-token-exchange",
        "exchange-audience-without-grant",
        "exchange-audience-not-a-uri",
        "unknown-command",
        "bad-port",
        "password-not-from-stdin",
    ],
)  # fmt: skip
def test_bad_arguments_exit_2(tmp_path: Path, arguments: list[str]) -> None:
    # Usage errors are found before any database is opened: one database suffices.
    environment = cli_environment(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "keys")
    result = run_cli(environment, *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_setting_exits_1_with_one_line_naming_it(environment: dict[str, str]) -> None:
    result = run_cli({**environment, "AUTHSERVER_ACCESS_TOKEN_TTL": "soon"}, "clients", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("authserver: AUTHSERVER_ACCESS_TOKEN_TTL")
    assert result.stderr.count("\n") == 1


def test_serve_refuses_a_database_behind_its_migrations(tmp_path: Path, keys_dir: Path) -> None:
    environment = cli_environment(f"sqlite:///{tmp_path / 'fresh.db'}", keys_dir)
    result = run_cli(environment, "serve", "--port", "1")
    assert result.returncode == 1
    assert "authserver db upgrade" in result.stderr
    assert result.stderr.count("\n") == 1
    upgraded = run_cli(environment, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr


def test_serve_in_production_mode_without_a_passphrase_exits_1(
    environment: dict[str, str],
) -> None:
    result = run_cli({**environment, "AUTHSERVER_MODE": "production"}, "serve")
    assert result.returncode == 1
    assert "AUTHSERVER_KEYS_PASSPHRASE" in result.stderr


def test_users_create_reads_the_password_from_stdin(environment: dict[str, str]) -> None:
    created = run_cli(
        environment, "users", "create", "--username", "dana", "--password-stdin", "--json",
        stdin="hunter2 but longer\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["username"] == "dana"
    duplicate = run_cli(
        environment, "users", "create", "--username", "DANA", "--password-stdin", stdin="x\n"
    )
    assert duplicate.returncode == 1
    listed = json.loads(run_cli(environment, "users", "list", "--json").stdout)
    assert [u["username"] for u in listed] == ["dana"]
    assert run_cli(environment, "users", "disable", "dana").returncode == 0
    listed = json.loads(run_cli(environment, "users", "list", "--json").stdout)
    assert listed[0]["disabled"] is True


def test_keys_list_and_rotate(environment: dict[str, str]) -> None:
    # A day of JWKS max-age: the template's next key, made when the test session first
    # needed keys, is younger than that however long the session has run (with the default
    # 5 min, whether `keys rotate` warned depended on where in the session this test ran).
    environment = {**environment, "AUTHSERVER_JWKS_MAX_AGE": "86400"}
    before = json.loads(run_cli(environment, "keys", "list", "--json").stdout)
    assert [k["state"] for k in before] == ["current", "next"]
    assert all(
        set(k) == {"kid", "state", "alg", "created_at", "activated_at", "retired_at"}
        for k in before
    )
    assert {k["alg"] for k in before} == {"RS256"}

    rotated = run_cli(environment, "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    # The template's next key is younger than JWKS max-age: promoted, with a warning.
    assert rotated.stderr.startswith("warning: next key")
    result = json.loads(rotated.stdout)
    assert result["current"] == before[1]["kid"]
    assert result["retired"] == before[0]["kid"]

    after = {
        k["kid"]: k["state"]
        for k in json.loads(run_cli(environment, "keys", "list", "--json").stdout)
    }
    assert after == {
        before[0]["kid"]: "retired",
        before[1]["kid"]: "current",
        result["next"]: "next",
    }


def test_users_revoke_sessions_ends_every_token_family_of_the_user(
    environment: dict[str, str], database: Database
) -> None:
    make_user(database)
    client, secret = make_web_app(database, skip_consent=True)
    assert secret is not None
    with running_server(environment) as base_url, httpx.Client(base_url=base_url) as browser:
        pkce = Pkce()
        code = code_of(browser, client.client_id, pkce)
        tokens = exchange_code(browser, client.client_id, secret, code, pkce.verifier).json()
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        assert browser.get("/userinfo", headers=bearer).status_code == 200
        result = run_cli(environment, "users", "revoke-sessions", "ALICE")
        assert result.returncode == 0, result.stderr
        # CONTRACT.md: every session and token family of the user ends.
        assert browser.get("/userinfo", headers=bearer).status_code == 401
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert (
            browser.post("/token", data=refresh, auth=(client.client_id, secret)).status_code == 400
        )
        again = browser.get(authorize_path(client.client_id), follow_redirects=False)
        assert "/login?" in again.headers["location"]
    unknown = run_cli(environment, "users", "revoke-sessions", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1


def test_db_purge_reports_what_it_deleted(environment: dict[str, str]) -> None:
    result = run_cli(environment, "db", "purge", "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert set(counts) == {
        "authorization_codes",
        "sessions",
        "token_families",
        "revoked_access_tokens",
        "login_throttle",
        "known_devices",
        "audit_events",
        "status_lists",
        "outbox_messages",
        "device_authorizations",
        "initial_access_tokens",
        "webauthn_challenges",
        "upstream_requests",
        "pending_sign_ins",
        "pushed_authorization_requests",
        "used_jtis",
    }
    assert all(isinstance(n, int) for n in counts.values())


@pytest.mark.parametrize(
    "arguments",
    [["clients", "delete"], ["users", "disable"], ["users", "revoke-sessions"]],
)
def test_an_identifier_beginning_with_a_dash_is_an_identifier_not_an_option(
    environment: dict[str, str], arguments: list[str]
) -> None:
    # base64url client_ids (and kids) begin with "-" one time in 64.
    result = run_cli(environment, *arguments, "-no-such-thing")
    assert result.returncode == 1, result.stderr
    assert "no " in result.stderr and "-no-such-thing" in result.stderr


def test_status_lists_list_shows_each_list_its_fill_and_revoked_count(
    environment: dict[str, str],
) -> None:
    """`authserver status-lists list` (draft-ietf-oauth-status-list): after tokens and one
    revocation, the list they came from, how full it is and how many entries are revoked."""
    created = create_client(environment)
    credentials = (str(created["client_id"]), str(created["client_secret"]))
    with running_server(environment) as base_url:
        tokens = []
        for _ in range(3):
            response = httpx.post(
                f"{base_url}/token", data={"grant_type": "client_credentials"}, auth=credentials
            )
            assert response.status_code == 200, response.text
            tokens.append(response.json()["access_token"])
        revoked = httpx.post(f"{base_url}/revoke", data={"token": tokens[0]}, auth=credentials)
        assert revoked.status_code == 200
    result = run_cli(environment, "status-lists", "list", "--json")
    assert result.returncode == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert listed["revoked"] == 1 and listed["state"] == "open"
    assert listed["size"] == 1 << 20 and 3 <= listed["allocated"] <= 64
    assert listed["uri"].endswith(f"/statuslists/{listed['id']}")
    text = run_cli(environment, "status-lists", "list")
    assert text.returncode == 0 and listed["id"] in text.stdout and "1 revoked" in text.stdout
