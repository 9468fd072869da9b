"""Tokens signed with each AUTHSERVER_SIGNING_ALG (RFC 7518 §3.3-3.5, RFC 8037 §3.1), the
id_token alg a client registered (OIDC Registration §2) with AUTHSERVER_EXTRA_SIGNING_ALGS,
and rotation and a change of algorithm on both key stores (docs/keys.md)."""

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from authserver.app import create_app
from authserver.cli import app as cli
from authserver.db import Database
from authserver.settings import Settings
from tests.conftest import ISSUER, make_settings
from tests.factories import SERVICE_AUDIENCE, make_client, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code, grant_for
from tests.http.tokens import assert_oauth_error, basic, request_token

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
# RFC 7518 §6.2-6.3, RFC 8037 §2: the key type and curve each algorithm needs.
KEY_TYPES = {"RS256": ("RSA", None), "PS256": ("RSA", None), "ES256": ("EC", "P-256")}
KEY_TYPES["EdDSA"] = ("OKP", "Ed25519")


def settings_for(database: Database, tmp_path: Path, **overrides: Any) -> Settings:
    # A key store of its own (not the RS256 template), reloaded at each use.
    values: dict[str, Any] = {"keys_dir": tmp_path / "keys", "keys_reload_interval": 0}
    return make_settings(database_url=database.url, client_cache_ttl=0, **{**values, **overrides})


@contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


def cli_run(settings: Settings, *arguments: str) -> Any:
    """`authserver ...` in process with the server's settings; its JSON output."""
    environment = {
        "AUTHSERVER_MODE": "development",
        "AUTHSERVER_DATABASE_URL": settings.database_url,
        "AUTHSERVER_KEYS_DIR": str(settings.keys_dir),
        "AUTHSERVER_KEYS_STORE": settings.keys_store,
        "AUTHSERVER_SIGNING_ALG": settings.signing_alg,
        "AUTHSERVER_EXTRA_SIGNING_ALGS": ",".join(settings.extra_signing_algs),
    }
    result = CliRunner().invoke(cli, [*arguments, "--json"], env=environment)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def verified(http: TestClient, token: str, alg: str, audience: str) -> dict[str, Any]:
    """As a client or resource service: the JWKS key the `kid` names, only `alg` allowed."""
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == header_of(token)["kid"])
    return jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=ISSUER)


def service_token(http: TestClient, credentials: tuple[str, str]) -> str:
    response = request_token(http, *credentials, resource=SERVICE_AUDIENCE)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def is_active(http: TestClient, token: str, credentials: tuple[str, str]) -> bool:
    response = http.post("/introspect", data={"token": token}, headers=basic(*credentials))
    return response.json()["active"]


def at_hash(access_token: str, alg: str) -> str:
    # OIDC Core §3.1.3.6: the hash of the alg's (SHA-512 for EdDSA with Ed25519).
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.fixture
def service(database: Database) -> tuple[str, str]:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    return client.client_id, secret


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_access_tokens_and_id_tokens_are_signed_with_the_configured_alg(
    database: Database, tmp_path: Path, service: tuple[str, str], alg: str
) -> None:
    make_user(database)
    web_app, secret = make_web_app(database)
    with serving(settings_for(database, tmp_path, signing_alg=alg)) as http:
        keys = http.get("/.well-known/jwks.json").json()["keys"]
        kty, crv = KEY_TYPES[alg]
        assert [(k["kty"], k.get("crv"), k["alg"], k["use"]) for k in keys] == [
            (kty, crv, alg, "sig")
        ] * 2
        access_token = service_token(http, service)
        assert header_of(access_token) == {"typ": "at+jwt", "alg": alg, "kid": keys[0]["kid"]}
        assert verified(http, access_token, alg, SERVICE_AUDIENCE)["client_id"] == service[0]
        assert is_active(http, access_token, service)  # the server's own check

        grant = grant_for(http, web_app.client_id, secret, scope="openid profile")
        assert header_of(grant.id_token)["alg"] == alg
        claims = verified(http, grant.id_token, alg, web_app.client_id)
        assert claims["at_hash"] == at_hash(grant.access_token, alg)
        userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {grant.access_token}"})
        assert userinfo.status_code == 200, userinfo.text
        metadata = http.get("/.well-known/openid-configuration").json()
        assert metadata["id_token_signing_alg_values_supported"] == [alg]
        assert metadata["access_token_signing_alg_values_supported"] == [alg]


@pytest.mark.parametrize("store", ["file", "database"])
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_after_keys_rotate_the_new_key_signs_and_tokens_of_the_old_one_still_verify(
    database: Database, tmp_path: Path, service: tuple[str, str], alg: str, store: str
) -> None:
    settings = settings_for(database, tmp_path, signing_alg=alg, keys_store=store)
    with serving(settings) as http:
        before = service_token(http, service)
        rotation = cli_run(settings, "keys", "rotate")
        after = service_token(http, service)
        assert header_of(after) == {"typ": "at+jwt", "alg": alg, "kid": rotation["current"]}
        assert header_of(before)["kid"] == rotation["retired"]
        published = {k["kid"]: k["alg"] for k in http.get("/.well-known/jwks.json").json()["keys"]}
        assert published == {rotation[s]: alg for s in ("current", "next", "retired")}
        for token in (before, after):
            assert verified(http, token, alg, SERVICE_AUDIENCE)["client_id"] == service[0]
            assert is_active(http, token, service)


@pytest.mark.parametrize("store", ["file", "database"])
def test_a_new_signing_alg_on_an_existing_store_signs_from_the_next_rotation(
    database: Database, tmp_path: Path, service: tuple[str, str], store: str
) -> None:
    rs256 = settings_for(database, tmp_path, keys_store=store)
    with serving(rs256) as http:
        first = service_token(http, service)
    es256 = settings_for(database, tmp_path, keys_store=store, signing_alg="ES256")
    with serving(es256) as http:
        # At start-up the RS256 next key (it never signed) gives way to an ES256 one; the
        # RS256 current key signs until verifiers had time to fetch the ES256 key.
        keys = [(k["alg"], k["kid"]) for k in http.get("/.well-known/jwks.json").json()["keys"]]
        assert keys == [("RS256", header_of(first)["kid"]), ("ES256", keys[1][1])]
        second = service_token(http, service)
        assert header_of(second)["kid"] == header_of(first)["kid"]

        rotation = cli_run(es256, "keys", "rotate")  # switches at once

        third = service_token(http, service)
        assert header_of(third) == {"typ": "at+jwt", "alg": "ES256", "kid": keys[1][1]}
        assert rotation["current"] == keys[1][1] and rotation["retired"] == keys[0][1]
        published = {k["kid"]: k["alg"] for k in http.get("/.well-known/jwks.json").json()["keys"]}
        assert published == {keys[0][1]: "RS256", keys[1][1]: "ES256", rotation["next"]: "ES256"}
        assert verified(http, first, "RS256", SERVICE_AUDIENCE)  # until the key is removed
        assert verified(http, third, "ES256", SERVICE_AUDIENCE)
        assert is_active(http, first, service) and is_active(http, third, service)


def test_a_client_registered_for_es256_id_tokens_gets_them_while_access_tokens_stay_rs256(
    database: Database, tmp_path: Path
) -> None:
    make_user(database)
    settings = settings_for(database, tmp_path, extra_signing_algs=("ES256",))
    with serving(settings) as http:
        arguments = ["clients", "create", "--name", "ES256 app", "--scope", "openid profile"]
        arguments += ["--grant-type", "authorization_code", "--id-token-alg", "ES256"]
        arguments += ["--redirect-uri", "https://app.example.test/callback"]
        created = cli_run(settings, *arguments)
        assert created["id_token_signed_response_alg"] == "ES256"
        client_id, secret = created["client_id"], created["client_secret"]
        grant = grant_for(http, client_id, secret, scope="openid profile")
        # OIDC Registration §2: the id_token in the alg the client registered.
        assert header_of(grant.id_token)["alg"] == "ES256"
        assert verified(http, grant.id_token, "ES256", client_id)["at_hash"] == at_hash(
            grant.access_token, "ES256"
        )
        assert header_of(grant.access_token)["alg"] == "RS256"
        # A client that registered no alg: the server's.
        other, other_secret = make_web_app(database, name="Default app")
        default = grant_for(http, other.client_id, other_secret, scope="openid")
        assert header_of(default.id_token)["alg"] == "RS256"
        metadata = http.get("/.well-known/openid-configuration").json()
        assert metadata["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
        keys = http.get("/.well-known/jwks.json").json()["keys"]
        assert sorted(k["alg"] for k in keys) == ["ES256", "ES256", "RS256", "RS256"]


def test_clients_create_refuses_an_id_token_alg_the_server_has_no_key_of(
    database: Database, tmp_path: Path
) -> None:
    environment = {
        "AUTHSERVER_MODE": "development",
        "AUTHSERVER_DATABASE_URL": database.url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        "AUTHSERVER_SIGNING_ALG": "RS256",
    }
    arguments = ["clients", "create", "--name", "App", "--grant-type", "authorization_code"]
    arguments += ["--redirect-uri", "https://app.example.test/cb", "--id-token-alg", "EdDSA"]
    result = CliRunner().invoke(cli, arguments, env=environment)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "AUTHSERVER_EXTRA_SIGNING_ALGS" in result.output
    assert "--id-token-alg" in result.output


def test_a_client_whose_id_token_alg_has_no_key_gets_invalid_client_before_its_code_is_used(
    database: Database, tmp_path: Path
) -> None:
    make_user(database)
    # Registered while EdDSA was an extra alg; the setting has since been dropped.
    web_app, secret = make_web_app(database, id_token_signed_response_alg="EdDSA")
    with serving(settings_for(database, tmp_path)) as http:
        pkce = Pkce()
        code = code_of(http, web_app.client_id, pkce, scope="openid")
        response = exchange_code(http, web_app.client_id, secret, code, pkce.verifier)
        body = assert_oauth_error(response, 400, "invalid_client")
        assert "EdDSA" in body["error_description"]
        # Without openid no id_token is due: the same client gets its tokens.
        pkce = Pkce()
        code = code_of(http, web_app.client_id, pkce, scope="profile")
        assert exchange_code(http, web_app.client_id, secret, code, pkce.verifier).is_success
