"""A whole FAPI 2.0 flow in a real browser (issue 17): an ES256 server, a client created with
`clients create --profile fapi2` (private_key_jwt), its request pushed to /par with a DPoP
proof (RFC 9126, RFC 9449 §10.1), the user signing in and consenting in Chromium, the
code exchanged for a DPoP-bound token, and that token used at a DPoP-protected resource:
the `examples/orders` service (authserver.resource) and /userinfo.

Debian's chromium under Playwright; real `authserver serve` and uvicorn processes; the
CLI as a real process; the id_token checked with PyJWT's PyJWKClient.
"""

import json
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import Browser

from authserver.db import Database
from tests.dpop_proofs import DPoPKey
from tests.e2e.browser import Navigations, fresh_page, loopback_app
from tests.e2e.examples import EXAMPLES, running_on_a_free_port, service_environment
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.e2e.test_sign_in_browser import (
    APPROVE,
    PHONE,
    STEP_TIMEOUT_MS,
    create_user,
    password_step,
)
from tests.flows import Pkce
from tests.http.keyholders import KeyHolder, assertion_form, key_holder

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

ORDERS = "https://orders.example.test"
ORDERS_APP = EXAMPLES / "orders"


def create_fapi_client(
    environment: dict[str, str], holder: KeyHolder, redirect: str, directory: Path
) -> str:
    jwks = directory / "bank-app-jwks.json"
    jwks.write_text(json.dumps(holder.jwks))
    created = run_cli(
        environment, "clients", "create", "--name", "Bank App", "--grant-type",
        "authorization_code", "--grant-type", "refresh_token", "--redirect-uri", redirect,
        "--scope", "openid profile orders:read", "--audience", ORDERS, "--auth-method",
        "private_key_jwt", "--jwks", str(jwks), "--profile", "fapi2", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    assert "client_secret" not in client or client["client_secret"] is None
    return client["client_id"]


def test_par_then_sign_in_then_a_dpop_token_at_a_dpop_protected_resource(
    chromium: Browser, database: Database, tmp_path: Path
) -> None:
    environment = cli_environment(database.url, tmp_path / "keys", AUTHSERVER_SIGNING_ALG="ES256")
    create_user(environment)
    holder, key, pkce = key_holder("ES256", kid="bank-1"), DPoPKey.generate(), Pkce()
    with (
        loopback_app() as app_url,
        running_server(environment) as base_url,
        orders_service(base_url, tmp_path) as orders_url,
        fresh_page(chromium, PHONE, STEP_TIMEOUT_MS) as page,
    ):
        redirect = f"{app_url}/callback"
        client_id = create_fapi_client(environment, holder, redirect, tmp_path)

        # Without PAR the profile refuses the request (FAPI 2.0 §5.3.2.2 item 3).
        unpushed = authorization(client_id, pkce, redirect)
        page.goto(f"{base_url}/authorize?{urlencode(unpushed)}")
        assert parse_qs(urlsplit(page.url).query)["error"] == ["invalid_request"]

        # 1. The app pushes its request, authenticated with private_key_jwt, with a DPoP
        #    proof that binds the code to its key (RFC 9449 §10.1).
        pushed = httpx.post(
            f"{base_url}/par",
            data=assertion_form(holder.assertion(client_id, aud=base_url), **unpushed),
            headers={"DPoP": key.proof("POST", f"{base_url}/par")},
            timeout=5,
        )
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["expires_in"] <= 60
        request_uri = pushed.json()["request_uri"]

        # 2. The browser brings only client_id and request_uri; the user signs in, consents.
        navigations = Navigations(page.context)
        query = urlencode({"client_id": client_id, "request_uri": request_uri})
        page.goto(f"{base_url}/authorize?{query}")
        password_step(page, base_url)
        page.click(APPROVE)
        page.wait_for_url(lambda url: url.startswith(redirect))
        answer = {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}
        assert answer["iss"] == base_url and answer["state"] == "fapi-state"  # RFC 9207
        assert [url for url in navigations.urls if url.startswith(redirect)] == [page.url]

        # 3. The code for a DPoP-bound token: without a proof of the bound key, refused.
        exchange = assertion_form(
            holder.assertion(client_id, aud=base_url), grant_type="authorization_code",
            code=answer["code"], redirect_uri=redirect, code_verifier=pkce.verifier,
            resource=ORDERS,
        )  # fmt: skip
        stranger = DPoPKey.generate().proof("POST", f"{base_url}/token")
        refused = httpx.post(
            f"{base_url}/token", data=exchange, headers={"DPoP": stranger}, timeout=5
        )
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        exchange["client_assertion"] = holder.assertion(client_id, aud=base_url)
        tokens = httpx.post(
            f"{base_url}/token",
            data=exchange,
            headers={"DPoP": key.proof("POST", f"{base_url}/token")},
            timeout=5,
        )
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        assert body["token_type"] == "DPoP"
        access = body["access_token"]
        signing = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json", timeout=5)
        id_token = jwt.decode(
            body["id_token"], signing.get_signing_key_from_jwt(body["id_token"]),
            algorithms=["ES256"], audience=client_id, issuer=base_url,
        )  # fmt: skip
        assert id_token["nonce"] == "fapi-nonce"

        # 4. The DPoP-protected resource: the token with a proof of its key, for this URL.
        orders = f"{orders_url}/orders"
        proof = key.proof("GET", orders, access_token=access)
        served = httpx.get(
            orders, headers={"Authorization": f"DPoP {access}", "DPoP": proof}, timeout=5
        )
        assert served.status_code == 200, served.text
        # The same proof again (a replay), and the token as a bearer token: refused.
        replayed = httpx.get(
            orders, headers={"Authorization": f"DPoP {access}", "DPoP": proof}, timeout=5
        )
        assert replayed.status_code == 401
        assert replayed.headers["www-authenticate"].startswith("DPoP")
        bearer = httpx.get(orders, headers={"Authorization": f"Bearer {access}"}, timeout=5)
        assert bearer.status_code == 401
        userinfo_proof = key.proof("GET", f"{base_url}/userinfo", access_token=access)
        userinfo = httpx.get(
            f"{base_url}/userinfo",
            headers={"Authorization": f"DPoP {access}", "DPoP": userinfo_proof},
            timeout=5,
        )
        assert userinfo.status_code == 200 and userinfo.json()["sub"] == id_token["sub"]


def authorization(client_id: str, pkce: Pkce, redirect: str) -> dict[str, str]:
    return {
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect,
        "scope": "openid profile orders:read", "state": "fapi-state", "nonce": "fapi-nonce",
        "code_challenge": pkce.challenge, "code_challenge_method": "S256",
    }  # fmt: skip


def orders_service(issuer: str, tmp_path: Path) -> AbstractContextManager[str]:
    """`examples/orders` under uvicorn, told its own URL (the one DPoP proofs name)."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        arguments = [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            str(EXAMPLES / "orders"),
        ]
        arguments += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        base_url = f"http://127.0.0.1:{port}"
        return arguments, service_environment(issuer, ORDERS, BASE_URL=base_url)

    return running_on_a_free_port(command, ORDERS_APP, "/orders", tmp_path / "orders.log")
