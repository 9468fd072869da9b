"""The FAPI 2.0 Security Profile (final, 2025-02-22) over HTTP: a client created with
`--profile fapi2`, or every client under AUTHSERVER_PROFILE=fapi2, is held to the
profile's rules at once (authserver/profiles/fapi2.py; docs/fapi.md lists each clause).

The server signs ES256 here (FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA); the clients sign
their assertions (private_key_jwt) and DPoP proofs with their own keys."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import ValidationError
from typer.testing import CliRunner

from authserver.app import create_app
from authserver.cli import app as cli
from authserver.clients.models import Client
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.settings import Settings
from authserver.tokens.models import AuthorizationCode
from tests.conftest import ISSUER, make_settings
from tests.dpop_proofs import DPoPKey
from tests.factories import WEB_APP_REDIRECT_URI as REDIRECT_URI
from tests.factories import make_user, make_web_app
from tests.flows import Pkce, answer_consent, path_after_login, query_of, sign_in
from tests.http.keyholders import KeyHolder, assertion_form, key_holder
from tests.http.tokens import assert_oauth_error, basic, claims_of

APPROVE_BUTTON = 'value="approve"'


@contextmanager
def serving(database: Database, tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = fapi_settings(database, tmp_path, **overrides)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


def fapi_settings(database: Database, tmp_path: Path, **overrides: Any) -> Settings:
    # A key store of its own, made with ES256 keys (the template store is RS256).
    values: dict[str, Any] = {"keys_dir": tmp_path / "keys", "signing_alg": "ES256"}
    return make_settings(database_url=database.url, **{**values, **overrides})


@pytest.fixture
def holder() -> KeyHolder:
    return key_holder("ES256")


def fapi_app(database: Database, holder: KeyHolder, **overrides: Any) -> Client:
    fields: dict[str, Any] = {
        "token_endpoint_auth_method": "private_key_jwt", "jwks": holder.jwks,
        "profile": "fapi2",
    }  # fmt: skip
    client, secret = make_web_app(database, **{**fields, **overrides})
    assert secret is None
    return client


def authorization(client_id: str, pkce: Pkce) -> dict[str, str]:
    return {
        "client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT_URI,
        "scope": "openid orders:read", "state": "s1", "nonce": "n1",
        "code_challenge": pkce.challenge, "code_challenge_method": "S256",
    }  # fmt: skip


def authenticated(holder: KeyHolder, client_id: str, /, **form: str) -> dict[str, str]:
    return assertion_form(holder.assertion(client_id), **form)


def push(http: TestClient, holder: KeyHolder, client_id: str, pkce: Pkce) -> str:
    form = authenticated(holder, client_id, **authorization(client_id, pkce))
    response = http.post("/par", data=form)
    assert response.status_code == 201, response.text
    return response.json()["request_uri"]


def through_sign_in_and_consent(http: TestClient, path: str) -> Response:
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303 and "/login?" in response.headers["location"]:
        signed_in = sign_in(http, next_path=path_after_login(response))
        location = signed_in.headers["location"].removeprefix(ISSUER)
        response = http.get(location, follow_redirects=False)
    if response.status_code == 200 and APPROVE_BUTTON in response.text:
        response = answer_consent(http, response)
    return response


def code_through_par(http: TestClient, holder: KeyHolder, client: Client, pkce: Pkce) -> str:
    request_uri = push(http, holder, client.client_id, pkce)
    path = "/authorize?" + urlencode({"client_id": client.client_id, "request_uri": request_uri})
    response = through_sign_in_and_consent(http, path)
    # FAPI 2.0 §5.3.2.2 item 11, RFC 9700 §4.12: the answer to the consent form is a 303.
    assert response.status_code == 303, (response.status_code, response.text[:200])
    query = query_of(response)
    assert query["iss"] == ISSUER and "code" in query, query  # §5.3.2.2 item 7 (RFC 9207)
    return query["code"]


def redeem(
    http: TestClient, holder: KeyHolder, client: Client, code: str, pkce: Pkce, key: DPoPKey | None
) -> Response:
    form = authenticated(
        holder, client.client_id, grant_type="authorization_code", code=code,
        redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier,
    )  # fmt: skip
    headers = {"DPoP": key.proof("POST", ISSUER + "/token")} if key else {}
    return http.post("/token", data=form, headers=headers)


def refresh(
    http: TestClient, holder: KeyHolder, client: Client, token: str, key: DPoPKey
) -> Response:
    form = authenticated(holder, client.client_id, grant_type="refresh_token", refresh_token=token)
    return http.post("/token", data=form, headers={"DPoP": key.proof("POST", ISSUER + "/token")})


def test_a_fapi2_client_goes_par_then_code_then_dpop_token_and_refresh_without_rotation(
    database: Database, tmp_path: Path, holder: KeyHolder
) -> None:
    """§5.3.2.2 items 2-7, §5.3.2.1 items 4, 6, 10: the whole flow as the profile has it."""
    make_user(database)
    client = fapi_app(database, holder)
    key, pkce = DPoPKey.generate(), Pkce()
    with serving(database, tmp_path) as http:
        code = code_through_par(http, holder, client, pkce)
        tokens = redeem(http, holder, client, code, pkce, key)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        assert body["token_type"] == "DPoP"
        access = body["access_token"]
        assert jwt.get_unverified_header(access)["alg"] == "ES256"  # §5.4.1
        assert claims_of(access)["cnf"] == {"jkt": key.jkt}
        assert jwt.get_unverified_header(body["id_token"])["alg"] == "ES256"
        # §5.3.2.1 item 10 and Note 2: the refresh token is not rotated: the same one
        # works again, and no new one is handed out (RFC 6749 §6).
        for _ in range(2):
            refreshed = refresh(http, holder, client, body["refresh_token"], key)
            assert refreshed.status_code == 200, refreshed.text
            assert "refresh_token" not in refreshed.json()
            assert refreshed.json()["token_type"] == "DPoP"
        # The DPoP-bound token at the userinfo endpoint, with a proof of its key.
        proof = key.proof("GET", ISSUER + "/userinfo", access_token=access)
        userinfo = http.get("/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        assert userinfo.status_code == 200, userinfo.text
        as_bearer = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert as_bearer.status_code == 401


def test_a_fapi2_client_is_refused_an_authorization_request_that_was_not_pushed(
    database: Database, tmp_path: Path, holder: KeyHolder
) -> None:
    """§5.3.2.2 item 3: authorization requests sent without PAR are rejected."""
    make_user(database)
    client = fapi_app(database, holder)
    with serving(database, tmp_path) as http:
        sign_in(http)
        query = urlencode(authorization(client.client_id, Pkce()))
        response = http.get(f"/authorize?{query}", follow_redirects=False)
        assert response.status_code == 302
        assert query_of(response)["error"] == "invalid_request"


def test_a_fapi2_client_gets_no_token_without_a_dpop_proof(
    database: Database, tmp_path: Path, holder: KeyHolder
) -> None:
    """§5.3.2.1 item 4: only sender-constrained access tokens; the code stays unspent."""
    make_user(database)
    client = fapi_app(database, holder)
    pkce = Pkce()
    with serving(database, tmp_path) as http:
        code = code_through_par(http, holder, client, pkce)
        refused = redeem(http, holder, client, code, pkce, None)
        assert_oauth_error(refused, 400, "invalid_dpop_proof")
        assert redeem(http, holder, client, code, pkce, DPoPKey.generate()).status_code == 200


def test_a_fapi2_code_lives_at_most_60_seconds_whatever_the_setting(
    database: Database, tmp_path: Path, holder: KeyHolder
) -> None:
    """§5.3.2.1 item 12: authorization codes live at most 60 s."""
    make_user(database)
    client = fapi_app(database, holder)
    other, _ = make_web_app(database)
    with serving(database, tmp_path, authorization_code_ttl=600) as http:
        code = code_through_par(http, holder, client, Pkce())
        with database.transaction() as db:
            row = db.get(AuthorizationCode, opaque_hash(code))
            assert row is not None
            lifetime = row.expires_at - row.auth_time
        assert lifetime <= timedelta(seconds=61)
        # Another client keeps the configured lifetime.
        sign_in(http)
        query = urlencode({**authorization(other.client_id, Pkce()), "scope": "openid"})
        plain = through_sign_in_and_consent(http, f"/authorize?{query}")
        with database.transaction() as db:
            row = db.get(AuthorizationCode, opaque_hash(query_of(plain)["code"]))
            assert row is not None
            assert row.expires_at - row.auth_time > timedelta(seconds=500)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
def test_a_fapi2_client_authenticates_only_with_ps256_es256_or_eddsa_assertions(
    database: Database, tmp_path: Path, alg: str
) -> None:
    """§5.4.1: PS256, ES256 or EdDSA; an RS256 assertion (good for other clients) is refused."""
    signer = key_holder(alg, kid="k-" + alg)
    client = fapi_app(database, signer, grant_types=["client_credentials"], redirect_uris=[])
    key = DPoPKey.generate()
    form = authenticated(signer, client.client_id, grant_type="client_credentials")
    with serving(database, tmp_path) as http:
        response = http.post(
            "/token", data=form, headers={"DPoP": key.proof("POST", ISSUER + "/token")}
        )
    if alg == "RS256":
        assert_oauth_error(response, 401, "invalid_client")
    else:
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"


def test_under_the_server_wide_profile_a_secret_client_cannot_authenticate(
    database: Database, tmp_path: Path
) -> None:
    """AUTHSERVER_PROFILE=fapi2, §5.3.2.1 item 6: private_key_jwt only, for every client;
    discovery says PAR is required (§5.3.2.2 item 3, RFC 9126 §5)."""
    client, secret = make_web_app(database, grant_types=["client_credentials"], redirect_uris=[])
    assert secret is not None
    with serving(database, tmp_path, profile="fapi2") as http:
        response = http.post(
            "/token", data={"grant_type": "client_credentials"},
            headers=basic(client.client_id, secret),
        )  # fmt: skip
        assert_oauth_error(response, 401, "invalid_client")
        metadata = http.get("/.well-known/openid-configuration").json()
        assert metadata["require_pushed_authorization_requests"] is True


def test_the_server_wide_profile_refuses_to_start_with_rs256() -> None:
    """§5.4.1: RS256 is not among the profile's algorithms."""
    with pytest.raises(ValidationError, match="AUTHSERVER_SIGNING_ALG"):
        make_settings(profile="fapi2", signing_alg="RS256")
    assert make_settings(profile="fapi2", signing_alg="PS256").profile == "fapi2"


@pytest.mark.parametrize(
    ("arguments", "signing_alg", "problem"),
    [
        (["--auth-method", "client_secret_basic"], "ES256", "private_key_jwt"),
        (["--public"], "ES256", "private_key_jwt"),
        (
            ["--jwks", "{jwks}", "--auth-method", "private_key_jwt"],
            "RS256",
            "AUTHSERVER_SIGNING_ALG",
        ),
        (
            ["--jwks", "{jwks}", "--auth-method", "private_key_jwt", "--grant-type", "device_code"],
            "ES256",
            "cannot use",
        ),
    ],
)
def test_clients_create_refuses_a_client_the_profile_cannot_hold(
    database: Database, tmp_path: Path, arguments: list[str], signing_alg: str, problem: str
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(key_holder("ES256").jwks))
    environment = {
        "AUTHSERVER_MODE": "development", "AUTHSERVER_DATABASE_URL": database.url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"), "AUTHSERVER_SIGNING_ALG": signing_alg,
    }  # fmt: skip
    base = [
        "clients", "create", "--name", "Bank app", "--grant-type", "authorization_code",
        "--redirect-uri", REDIRECT_URI, "--profile", "fapi2",
    ]  # fmt: skip
    given = [a.replace("{jwks}", str(jwks_file)) for a in arguments]
    result = CliRunner().invoke(cli, [*base, *given], env=environment)
    assert result.exit_code == 2, result.output
    assert problem in result.output
    # The same client with private_key_jwt on an ES256 server is created.
    good = [*base, "--auth-method", "private_key_jwt", "--jwks", str(jwks_file), "--json"]
    created = CliRunner().invoke(cli, good, env={**environment, "AUTHSERVER_SIGNING_ALG": "ES256"})
    assert created.exit_code == 0, created.output
