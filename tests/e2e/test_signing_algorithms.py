"""Each AUTHSERVER_SIGNING_ALG in a running server, checked by verifiers the server did not
write: PyJWT's `PyJWKClient`, `authserver.resource.Verifier`, and the npm package `jose`
(`createRemoteJWKSet` + `jwtVerify`) in Node. RFC 7518 §3.3-3.5, RFC 8037 §3.1, RFC 9068 §4.

On SQLite only: the key stores on both databases are tested over HTTP
(tests/http/test_signing_algorithms.py); here the point is the verifiers.
"""

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from authserver.resource import Verifier
from tests.conftest import database_for_a_test
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import SERVICE_AUDIENCE, make_client, make_user, make_web_app
from tests.flows import code_flow_tokens, service_token

pytestmark = pytest.mark.e2e

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
# RFC 7518 §6.2-6.3, RFC 8037 §2: the key type and curve each algorithm needs.
KEY_TYPES = {"RS256": ("RSA", None), "PS256": ("RSA", None), "ES256": ("EC", "P-256")}
KEY_TYPES["EdDSA"] = ("OKP", "Ed25519")
JOSE_VERSION = "5"
# Verify each (audience, typ, token) with the issuer's JWKS; print what was verified.
VERIFY_SCRIPT = """
import { createRemoteJWKSet, jwtVerify } from "jose";
const [jwksUri, issuer, ...rest] = process.argv.slice(2);
const keys = createRemoteJWKSet(new URL(jwksUri));
const verified = [];
for (let i = 0; i < rest.length; i += 3) {
  const [audience, typ, token] = rest.slice(i, i + 3);
  const options = { issuer, audience, ...(typ === "-" ? {} : { typ }) };
  const { payload, protectedHeader } = await jwtVerify(token, keys, options);
  verified.push({ alg: protectedHeader.alg, kid: protectedHeader.kid, aud: payload.aud });
}
console.log(JSON.stringify(verified));
"""


@dataclass(frozen=True)
class Issued:
    base_url: str
    environment: dict[str, str]
    service: tuple[str, str]
    service_token: str
    access_token: str  # of the code flow
    id_token: str
    web_app: str


@contextmanager
def issuer_signing_with(alg: str, sqlite_url: str, tmp_path: Path) -> Iterator[Issued]:
    """A real server with a key store of `alg`, and tokens of both kinds it issued."""
    with contextmanager(database_for_a_test)(sqlite_url) as database:
        service = make_client(database)
        web_app = make_web_app(database)
        make_user(database)
        environment = cli_environment(
            database.url,
            tmp_path / "keys",
            AUTHSERVER_SIGNING_ALG=alg,
            AUTHSERVER_KEYS_RELOAD_INTERVAL="0",
        )
        with running_server(environment) as base_url:
            tokens = code_flow_tokens(
                base_url, *credentials(web_app), scope="openid", resource=SERVICE_AUDIENCE
            )
            yield Issued(
                base_url,
                environment,
                credentials(service),
                service_token(base_url, credentials(service)),
                tokens["access_token"],
                tokens["id_token"],
                web_app[0].client_id,
            )


def credentials(registered: tuple[object, str | None]) -> tuple[str, str]:
    client, secret = registered
    assert secret is not None
    return client.client_id, secret  # type: ignore[attr-defined]


def pyjwt_claims(client: jwt.PyJWKClient, token: str, alg: str, audience: str) -> dict:
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[alg], audience=audience)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwkclient_and_the_resource_verifier_accept_the_tokens_of_each_alg(
    alg: str, sqlite_url: str, tmp_path: Path
) -> None:
    with issuer_signing_with(alg, sqlite_url, tmp_path) as issued:
        jwks_uri = f"{issued.base_url}/.well-known/jwks.json"
        client = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False)
        current = client.get_signing_key_from_jwt(issued.service_token)
        # The JWKS keys: the right type and curve, their alg, public members only.
        published = {k["kid"]: k for k in client.fetch_data()["keys"]}
        assert {(k["kty"], k.get("crv"), k["alg"], k["use"]) for k in published.values()} == {
            (*KEY_TYPES[alg], alg, "sig")
        }
        assert not any({"d", "p", "q"} & k.keys() for k in published.values())
        assert current.key_id in published
        for token in (issued.service_token, issued.access_token):
            assert pyjwt_claims(client, token, alg, SERVICE_AUDIENCE)["iss"] == issued.base_url
        assert pyjwt_claims(client, issued.id_token, alg, issued.web_app)["sub"]
        with Verifier(issued.base_url, SERVICE_AUDIENCE) as verifier:
            assert verifier.verify(issued.service_token)["client_id"]
            assert verifier.verify(issued.access_token)["sub"]

            # `keys rotate`: the next key signs; the tokens of the one before still verify.
            result = run_cli(issued.environment, "keys", "rotate", "--json")
            assert result.returncode == 0, result.stderr
            rotation = json.loads(result.stdout)
            fresh = service_token(issued.base_url, issued.service)
            assert jwt.get_unverified_header(fresh) == {
                "typ": "at+jwt", "alg": alg, "kid": rotation["current"]
            }  # fmt: skip
            for token in (issued.service_token, fresh):
                assert pyjwt_claims(client, token, alg, SERVICE_AUDIENCE)
                assert verifier.verify(token)["client_id"]


@pytest.fixture(scope="session")
def node_jose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with jose installed from npm and the verifying script; skipped, with
    the reason, only where npm is missing or cannot install it."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed")
    directory = tmp_path_factory.mktemp("node-jose")
    (directory / "package.json").write_text('{"private": true, "type": "module"}')
    installed = subprocess.run(
        [npm, "install", f"jose@{JOSE_VERSION}", "--no-audit", "--no-fund", "--silent"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install jose@{JOSE_VERSION}: {installed.stderr[-300:]}")
    (directory / "verify.mjs").write_text(VERIFY_SCRIPT)
    return directory


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_npm_jose_library_verifies_the_tokens_of_each_alg_with_the_remote_jwks(
    alg: str, sqlite_url: str, tmp_path: Path, node_jose: Path
) -> None:
    with issuer_signing_with(alg, sqlite_url, tmp_path) as issued:
        checks = [
            (SERVICE_AUDIENCE, "at+jwt", issued.service_token),
            (SERVICE_AUDIENCE, "at+jwt", issued.access_token),
            (issued.web_app, "JWT", issued.id_token),
        ]
        arguments = [f"{issued.base_url}/.well-known/jwks.json", issued.base_url]
        arguments += [part for check in checks for part in check]
        node = shutil.which("node")
        assert node is not None
        result = subprocess.run(
            [node, "verify.mjs", *arguments],
            cwd=node_jose,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    verified = json.loads(result.stdout)
    assert [v["alg"] for v in verified] == [alg] * 3
    assert [v["aud"] for v in verified] == [SERVICE_AUDIENCE, SERVICE_AUDIENCE, issued.web_app]
