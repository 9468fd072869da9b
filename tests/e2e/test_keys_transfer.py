"""Moving one host's key directory into the fleet's database store and back out, with the
real command (`authserver keys import` / `keys export`), and the refusal to start an empty
database store beside keys that were not imported (issue 10, item 1; docs/keys.md)."""

import json
from pathlib import Path

import pytest

from authserver.db import Database
from authserver.keys.store import FileKeyStore
from tests.e2e.processes import cli_environment, run_cli

OLD_PASSPHRASE = "the passphrase of the single host"
FLEET_PASSPHRASE = "the passphrase of the whole fleet"


def listed(environment: dict[str, str]) -> list[tuple[str, str]]:
    result = run_cli(environment, "keys", "list", "--json")
    assert result.returncode == 0, result.stderr
    return sorted((key["kid"], key["state"]) for key in json.loads(result.stdout))


@pytest.fixture
def sealed_dir(tmp_path: Path, template_keys_dir: Path) -> Path:
    """A single host's key directory, sealed with its own passphrase."""
    from authserver.keys.transfer import copy_keys

    directory = tmp_path / "host-keys"
    copy_keys(FileKeyStore(template_keys_dir, None), FileKeyStore(directory, OLD_PASSPHRASE))
    return directory


def test_a_key_directory_moves_into_the_database_and_back(
    database: Database, sealed_dir: Path, tmp_path: Path
) -> None:
    fleet = cli_environment(
        database.url,
        tmp_path / "unused-keys",
        AUTHSERVER_KEYS_STORE="database",
        AUTHSERVER_KEYS_PASSPHRASE=FLEET_PASSPHRASE,
        OLD_KEYS_PASSPHRASE=OLD_PASSPHRASE,
    )
    expected = sorted((r.kid, r.state.value) for r in FileKeyStore(sealed_dir, None).read_records())

    imported = run_cli(
        fleet, "keys", "import", "--from-dir", str(sealed_dir),
        "--from-passphrase-env", "OLD_KEYS_PASSPHRASE", "--json",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert sorted((k["kid"], k["state"]) for k in json.loads(imported.stdout)) == expected
    assert listed(fleet) == expected

    again = run_cli(fleet, "keys", "import", "--from-dir", str(sealed_dir))
    assert again.returncode == 1 and "already holds signing keys" in again.stderr

    exported_dir = tmp_path / "backup"
    exported = run_cli(fleet, "keys", "export", "--to-dir", str(exported_dir))
    assert exported.returncode == 0, exported.stderr
    backup = FileKeyStore(exported_dir, FLEET_PASSPHRASE)
    assert sorted((r.kid, r.state.value) for r in backup.read_records()) == expected
    for kid, _ in expected:
        assert backup.load_private_key(kid).thumbprint() == kid  # re-sealed for the fleet
    refused = run_cli(fleet, "keys", "export", "--to-dir", str(exported_dir))
    assert refused.returncode == 1 and "not empty" in refused.stderr

    audit = run_cli(fleet, "audit", "list", "--json", "--event", "key.imported")
    assert sorted(e["details"]["kid"] for e in json.loads(audit.stdout)) == [k for k, _ in expected]


def test_an_import_with_the_wrong_passphrase_changes_nothing(
    database: Database, sealed_dir: Path, tmp_path: Path
) -> None:
    fleet = cli_environment(
        database.url,
        tmp_path / "unused-keys",
        AUTHSERVER_KEYS_STORE="database",
        AUTHSERVER_KEYS_PASSPHRASE=FLEET_PASSPHRASE,
    )
    result = run_cli(fleet, "keys", "import", "--from-dir", str(sealed_dir))
    assert result.returncode == 1
    assert "wrong passphrase" in result.stderr and result.stderr.count("\n") == 1
    assert listed(fleet) == []


def test_the_database_store_will_not_start_beside_unimported_keys(
    database: Database, keys_dir: Path
) -> None:
    environment = cli_environment(database.url, keys_dir, AUTHSERVER_KEYS_STORE="database")
    result = run_cli(environment, "serve", "--port", "1")
    assert result.returncode == 1
    assert f"keys import --from-dir {keys_dir}" in result.stderr
    assert listed(environment) == []
