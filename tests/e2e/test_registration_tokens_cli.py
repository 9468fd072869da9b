"""`authserver registration-tokens create`, run as a real process: the initial access
token (RFC 7591 §3) it prints opens POST /register as often as it allows, and no more."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.clock import utcnow
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.registration.models import InitialAccessToken
from tests.conftest import database_for_a_test
from tests.e2e.processes import cli_environment, run_cli
from tests.http.registration import WEB_APP_METADATA, register
from tests.http.tokens import assert_oauth_error


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    yield from database_for_a_test(sqlite_url)


def create_token(environment: dict[str, str], *options: str) -> dict[str, str]:
    result = run_cli(environment, "registration-tokens", "create", "--json", *options)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_json_output_is_the_token_and_its_expiry_and_it_registers_one_client(
    environment: dict[str, str], http: TestClient
) -> None:
    before = utcnow()
    created = create_token(environment)
    assert set(created) == {"initial_access_token", "expires_at"}  # CONTRACT.md
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert timedelta(hours=23) < expires_at - before < timedelta(hours=25)  # a day by default
    token = created["initial_access_token"]
    assert register(http, token, WEB_APP_METADATA).status_code == 201
    assert_oauth_error(register(http, token, WEB_APP_METADATA), 401, "invalid_token")


def test_expiry_and_uses_can_be_chosen(environment: dict[str, str], http: TestClient) -> None:
    before = utcnow()
    created = create_token(environment, "--expires-in", "120", "--max-uses", "2")
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert timedelta(seconds=110) < expires_at - before < timedelta(seconds=130)
    token = created["initial_access_token"]
    assert [register(http, token, WEB_APP_METADATA).status_code for _ in range(3)] == [
        201,
        201,
        401,
    ]


def test_the_token_is_stored_only_as_a_hash_and_its_creation_is_audited(
    environment: dict[str, str], database: Database
) -> None:
    token = create_token(environment)["initial_access_token"]
    with database.transaction() as session:
        (row,) = session.exec(select(InitialAccessToken)).all()
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.event == "registration_token.created")
        ).all()
    assert row.token_hash == opaque_hash(token)
    assert (row.uses, row.max_uses) == (0, 1)
    assert token not in event.details and row.token_hash not in event.details
    assert event.actor is not None and event.actor.startswith("cli:")


def test_text_output_names_the_token_once(environment: dict[str, str]) -> None:
    result = run_cli(environment, "registration-tokens", "create")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("initial_access_token: ")
    assert result.stderr == ""


def test_a_mode_that_does_not_ask_for_tokens_is_warned_about(
    environment: dict[str, str],
) -> None:
    result = run_cli(
        {**environment, "AUTHSERVER_REGISTRATION": "open"}, "registration-tokens", "create"
    )
    assert result.returncode == 0, result.stderr
    assert "AUTHSERVER_REGISTRATION is open" in result.stderr


@pytest.mark.parametrize(
    "options",
    [
        ["--expires-in", "0"],
        ["--expires-in", "-60"],
        ["--expires-in", "soon"],
        ["--expires-in", str(366 * 24 * 3600)],
        ["--max-uses", "0"],
        ["--max-uses", "1000001"],
        ["--max-uses", "many"],
        ["--frobnicate"],
    ],
    ids=[
        "zero-lifetime",
        "negative-lifetime",
        "lifetime-no-number",
        "lifetime-over-a-year",
        "zero-uses",
        "too-many-uses",
        "uses-no-number",
        "unknown-option",
    ],
)
def test_bad_values_exit_2_and_create_nothing(
    sqlite_database: Database, keys_dir: Path, options: list[str]
) -> None:
    """Usage errors, found before any row is written: one database suffices."""
    environment = cli_environment(sqlite_database.url, keys_dir)
    result = run_cli(environment, "registration-tokens", "create", *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    with sqlite_database.transaction() as session:
        assert session.exec(select(InitialAccessToken)).all() == []
