"""`authserver upstreams add | list | remove`, run as a real process: usage errors exit 2
before any database is opened, other failures exit 1 with one line, and the client
secret is read from stdin, sealed at rest and never printed."""

import json
from pathlib import Path

import pytest
from sqlmodel import select

from authserver.db import Database
from authserver.sealing import Sealer
from authserver.upstream.models import UpstreamProvider
from tests.e2e.processes import cli_environment, run_cli

pytestmark = pytest.mark.e2e

ISSUER = "https://id.example.test"
SECRET = "upstream-client-secret-42"


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


def add(environment: dict[str, str], *options: str, stdin: str | None = None) -> dict[str, object]:
    result = run_cli(environment, "upstreams", "add", *options, "--json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_add_list_and_remove(environment: dict[str, str], database: Database) -> None:
    added = add(
        environment, "--issuer", ISSUER, "--client-id", "ours", "--client-secret-stdin",
        "--display-name", "Example ID", "--link-by-verified-email", stdin=SECRET + "\n",
    )  # fmt: skip
    assert added["name"] == "id-example-test"  # from the issuer's host
    assert added["confidential"] is True and added["link_by_verified_email"] is True
    assert added["scope"] == "openid profile email"
    public = add(environment, "--issuer", "https://other.example.test/tenant/", "--client-id",
                 "app", "--name", "other", "--scope", "openid profile")  # fmt: skip
    assert public["confidential"] is False
    assert public["display_name"] == "other.example.test"
    listed = run_cli(environment, "upstreams", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    providers = json.loads(listed.stdout)
    assert [p["name"] for p in providers] == ["id-example-test", "other"]
    assert providers[1]["issuer"] == "https://other.example.test/tenant/"  # exactly as given
    assert SECRET not in listed.stdout
    with database.reading() as db:
        stored = db.exec(select(UpstreamProvider).where(UpstreamProvider.name == "other")).one()
        sealed = db.get(UpstreamProvider, "id-example-test")
    assert stored.sealed_client_secret is None
    assert sealed is not None and sealed.sealed_client_secret is not None
    assert SECRET not in sealed.sealed_client_secret
    assert Sealer(None).open(sealed.sealed_client_secret, "upstream:id-example-test") == SECRET
    text = run_cli(environment, "upstreams", "list")
    assert "Example ID" in text.stdout and SECRET not in text.stdout
    removed = run_cli(environment, "upstreams", "remove", "other")
    assert removed.returncode == 0, removed.stderr
    remaining = json.loads(run_cli(environment, "upstreams", "list", "--json").stdout)
    assert [p["name"] for p in remaining] == ["id-example-test"]


def test_adding_a_name_twice_and_removing_an_unknown_one_fail_with_one_line(
    environment: dict[str, str],
) -> None:
    add(environment, "--issuer", ISSUER, "--client-id", "ours", "--name", "example")
    again = run_cli(
        environment, "upstreams", "add", "--issuer", ISSUER, "--client-id", "x", "--name", "example"
    )
    assert again.returncode == 1
    assert again.stderr.startswith("authserver: an upstream provider named 'example' exists")
    assert again.stderr.count("\n") == 1
    unknown = run_cli(environment, "upstreams", "remove", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr == "authserver: no upstream provider named 'nobody'\n"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--client-id", "x"], "--issuer"),
        (["--issuer", "not a url", "--client-id", "x"], "--issuer"),
        (["--issuer", "https://id.example.test/?q=1", "--client-id", "x"], "--issuer"),
        (["--issuer", ISSUER, "--client-id", "x", "--name", "Has Spaces"], "--name"),
        (["--issuer", ISSUER, "--client-id", "x", "--scope", "profile email"], "--scope"),
        (["--issuer", ISSUER, "--client-id", ""], "--client-id"),
        (["--issuer", ISSUER, "--client-id", "x", "--client-secret-stdin"], "--client-secret"),
    ],
    ids=["no-issuer", "issuer-not-a-url", "issuer-with-query", "bad-name", "no-openid",
         "empty-client-id", "empty-secret"],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_option(
    tmp_path: Path, arguments: list[str], named: str
) -> None:
    # Usage errors are found before any database is opened: one that does not exist will do.
    environment = cli_environment(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "keys")
    result = run_cli(environment, "upstreams", "add", *arguments, stdin="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "unused.db").exists()


def test_production_mode_wants_an_https_issuer(tmp_path: Path) -> None:
    environment = cli_environment(
        f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "keys",
        AUTHSERVER_MODE="production", AUTHSERVER_KEYS_PASSPHRASE="a passphrase of length",
    )  # fmt: skip
    result = run_cli(
        environment, "upstreams", "add", "--issuer", "http://id.example.test", "--client-id", "x"
    )
    assert result.returncode == 2, result.stderr
    assert "https" in result.stderr
