"""`authserver clients create --auth-method private_key_jwt` (RFC 7523 §2.2, OIDC Core §9),
run as a real process: the keys are checked before any database is opened (a bad set
exits 2 naming the option), no secret is made or printed, `clients list` shows the method
and keys, and a real server takes the client's assertions."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from authserver.db import Database
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.http.keyholders import assertion_form, jwks_server, key_holder

PRIVATE_KEY_JWT = "private_key_jwt"
CREATE = ["clients", "create", "--name", "Reports", "--grant-type", "client_credentials"]


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


def write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def create(environment: dict[str, str], *options: str) -> dict[str, Any]:
    result = run_cli(environment, *CREATE, "--auth-method", PRIVATE_KEY_JWT, *options, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.e2e
def test_a_client_created_with_a_jwks_file_gets_no_secret_and_a_token(
    environment: dict[str, str], tmp_path: Path
) -> None:
    holder = key_holder("ES256")
    created = create(environment, "--jwks", write_json(tmp_path / "keys.json", holder.jwks))
    assert created["client_secret"] is None and created["public"] is False
    assert created["token_endpoint_auth_method"] == PRIVATE_KEY_JWT
    assert created["jwks"] == holder.jwks
    text = run_cli(environment, *CREATE, "--auth-method", PRIVATE_KEY_JWT, "--jwks",
                   str(tmp_path / "keys.json"))  # fmt: skip
    assert text.returncode == 0 and "secret" not in text.stdout, text.stdout
    listed = json.loads(run_cli(environment, "clients", "list", "--json").stdout)
    assert {(c["token_endpoint_auth_method"], json.dumps(c["jwks"])) for c in listed} == {
        (PRIVATE_KEY_JWT, json.dumps(holder.jwks))
    }
    client_id = created["client_id"]
    with running_server(environment) as base_url:
        form = assertion_form(holder.assertion(client_id, aud=base_url))
        response = httpx.post(
            f"{base_url}/token", data={**form, "grant_type": "client_credentials"}
        )
    assert response.status_code == 200, response.text


@pytest.mark.e2e
def test_a_client_with_a_jwks_uri_is_served_by_its_published_keys(
    environment: dict[str, str],
) -> None:
    """OIDC Core §10.1.1: the server fetches the client's JWK Set (development mode allows
    a loopback address; production needs AUTHSERVER_OUTBOUND_ALLOW_PRIVATE)."""
    holder = key_holder("EdDSA")
    with jwks_server() as served:
        served.jwks = holder.jwks
        created = create(environment, "--jwks-uri", served.uri)
        assert created["jwks_uri"] == served.uri and created["jwks"] is None
        with running_server(environment) as base_url:
            form = assertion_form(holder.assertion(created["client_id"], aud=f"{base_url}/token"))
            data = {**form, "grant_type": "client_credentials"}
            response = httpx.post(f"{base_url}/token", data=data)
    assert response.status_code == 200, response.text
    assert served.fetches == 1


def _bad_sets(tmp_path: Path) -> dict[str, list[str]]:
    good = key_holder().jwks
    private = {"keys": [{**key_holder().jwk, "d": "AAAA"}]}
    small_rsa = {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}
    secret = {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
    (tmp_path / "not.json").write_text("{not json", encoding="utf-8")
    method = ["--auth-method", PRIVATE_KEY_JWT]
    uri = "https://reports.example.test/jwks"
    return {
        "private-key": [*method, "--jwks", write_json(tmp_path / "p.json", private)],
        "short-rsa-key": [*method, "--jwks", write_json(tmp_path / "r.json", small_rsa)],
        "symmetric-key": [*method, "--jwks", write_json(tmp_path / "s.json", secret)],
        "no-keys": [*method, "--jwks", write_json(tmp_path / "e.json", {"keys": []})],
        "a-list": [*method, "--jwks", write_json(tmp_path / "l.json", good["keys"])],
        "not-json": [*method, "--jwks", str(tmp_path / "not.json")],
        "missing-file": [*method, "--jwks", str(tmp_path / "absent.json")],
        "neither": method,
        "both": [*method, "--jwks", write_json(tmp_path / "g.json", good), "--jwks-uri", uri],
        "http-jwks-uri": [*method, "--jwks-uri", "http://reports.example.test/jwks"],
        "keys-without-the-method": ["--jwks", write_json(tmp_path / "k.json", good)],
    }


@pytest.mark.parametrize(
    "case",
    [
        "private-key", "short-rsa-key", "symmetric-key", "no-keys", "a-list", "not-json",
        "missing-file", "neither", "both", "http-jwks-uri", "keys-without-the-method",
    ],
)  # fmt: skip
def test_unusable_keys_exit_2_before_any_database_is_opened(tmp_path: Path, case: str) -> None:
    environment = cli_environment(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "keys")
    result = run_cli(environment, *CREATE, *_bad_sets(tmp_path)[case])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "unused.db").exists()
