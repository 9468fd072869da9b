"""`authserver audit list`: admin actions are audited with their actor, and the filters
--since, --user, --client and --event select them (issue 10, item 5)."""

import getpass
import json
from pathlib import Path

import pytest

from authserver.db import Database
from tests.e2e.processes import cli_environment, run_cli


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


def audit(environment: dict[str, str], *arguments: str) -> list[dict[str, object]]:
    result = run_cli(environment, "audit", "list", "--json", *arguments)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_admin_commands_are_audited_with_who_ran_them(environment: dict[str, str]) -> None:
    created = run_cli(
        environment, "clients", "create", "--name", "Reports",
        "--grant-type", "client_credentials", "--scope", "reports:read", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    password = "a long password nobody guesses"
    made = run_cli(
        environment, "users", "create", "--username", "alice", "--password-stdin", stdin=password
    )
    assert made.returncode == 0, made.stderr
    assert run_cli(environment, "users", "revoke-sessions", "alice").returncode == 0
    assert run_cli(environment, "users", "disable", "alice").returncode == 0
    assert run_cli(environment, "clients", "delete", str(client["client_id"])).returncode == 0

    events = audit(environment)
    assert [e["event"] for e in events] == [
        "client.created",
        "user.created",
        "user.sessions_revoked",
        "token.revoked",
        "user.disabled",
        "token.revoked",
        "client.deleted",
    ]
    assert {e["actor"] for e in events} == {f"cli:{getpass.getuser()}@{_hostname()}"}
    assert events[0]["client_id"] == client["client_id"]
    assert events[0]["details"]["grant_types"] == ["client_credentials"]
    everything = json.dumps(events)
    assert password not in everything and str(client["client_secret"]) not in everything

    alice = audit(environment, "--user", "alice")
    assert [e["event"] for e in alice] == [
        "user.created",
        "user.sessions_revoked",
        "token.revoked",
        "user.disabled",
        "token.revoked",
    ]
    of_client = audit(environment, "--client", str(client["client_id"]))
    assert [e["event"] for e in of_client] == ["client.created", "client.deleted"]
    assert len(audit(environment, "--since", "1h")) == len(events)
    assert audit(environment, "--since", "2999-01-01T00:00:00Z") == []
    assert [e["event"] for e in audit(environment, "--event", "user.disabled")] == ["user.disabled"]
    latest = audit(environment, "--limit", "2")
    assert [e["event"] for e in latest] == ["token.revoked", "client.deleted"]
    assert audit(environment, "--user", "nobody") == []


def test_the_text_listing_has_one_line_per_event(environment: dict[str, str]) -> None:
    run_cli(environment, "users", "create", "--username", "bob", "--password-stdin", stdin="pw!")
    result = run_cli(environment, "audit", "list")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert "user.created" in line and "username=bob" in line


@pytest.mark.parametrize(
    "arguments",
    [["--since", "yesterday"], ["--since", "5 minutes"], ["--event", "no.such"], ["--limit", "0"]],
)
def test_bad_filters_are_usage_errors(environment: dict[str, str], arguments: list[str]) -> None:
    result = run_cli(environment, "audit", "list", *arguments)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def _hostname() -> str:
    import socket

    return socket.gethostname()
