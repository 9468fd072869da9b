"""`authserver users show U` and `users mfa-reset U`, run as real processes."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.db import Database
from authserver.settings import Settings
from tests.conftest import ISSUER
from tests.e2e.processes import cli_environment, run_cli
from tests.factories import make_user
from tests.factors import enrol_totp
from tests.flows import sign_in


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


def shown(environment: dict[str, str], username: str = "alice") -> dict[str, object]:
    result = run_cli(environment, "users", "show", username, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_show_lists_factors_and_sessions_and_mfa_reset_removes_the_factors(
    environment: dict[str, str], database: Database, settings: Settings
) -> None:
    make_user(database)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert sign_in(http).status_code == 303
        secret, _, _ = enrol_totp(http)
    before = shown(environment)
    factors = before["factors"]
    assert isinstance(factors, dict)
    assert factors == {"totp": True, "recovery_codes": 10, "passkeys": []}
    sessions = before["sessions"]
    assert isinstance(sessions, list) and len(sessions) == 1
    assert sessions[0]["amr"] == "pwd otp mfa" and sessions[0]["address"] == "testclient"
    text = run_cli(environment, "users", "show", "ALICE")
    assert text.returncode == 0 and "TOTP: on" in text.stdout and secret not in text.stdout

    reset = run_cli(environment, "users", "mfa-reset", "alice")
    assert reset.returncode == 0, reset.stderr
    assert "TOTP 1" in reset.stdout and "recovery codes 10" in reset.stdout
    after = shown(environment)
    assert after["factors"] == {"totp": False, "recovery_codes": 0, "passkeys": []}
    # The password alone signs in again; the old codes are gone.
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        signed_in = sign_in(http)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == ISSUER + "/login"
    audit = run_cli(environment, "audit", "list", "--json")
    assert '"mfa.reset"' in audit.stdout


@pytest.mark.parametrize("command", ["show", "mfa-reset"])
def test_an_unknown_user_exits_1_with_one_line(environment: dict[str, str], command: str) -> None:
    result = run_cli(environment, "users", command, "nobody")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "nobody" in result.stderr
