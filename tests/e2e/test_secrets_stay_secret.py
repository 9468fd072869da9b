"""Secrets stay secret: a full flow against a real `authserver serve` in production mode,
then every secret it made or saw is looked for in the server's JSON log (access log on),
every error body, every HTML page and other non-token answer, and `/metrics`
(SECURITY-CHECKLIST, Keys: "No keys, secrets, codes, tokens in logs or errors"; issue 14,
item 6)."""

import html
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from authserver.db import Database
from authserver.keys.store import FileKeyStore
from tests.e2e.processes import cli_environment, running_server
from tests.factories import WEB_APP_LOGOUT_URI, make_client, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code, hidden_fields, sign_in

pytestmark = pytest.mark.e2e

RATE_LIMIT = 30  # per minute, per client and endpoint: the flow itself stays well under it


@dataclass
class Recorder:
    """Every answer the test's HTTP client received, read in full."""

    responses: list[httpx.Response] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)

    def where_secrets_must_not_be(self) -> list[tuple[str, str, set[str]]]:
        """(what, text, allowed) for each answer that may hold no secret: all but the token
        responses, whose job is to carry tokens. Its headers count, except Set-Cookie and
        Location (a cookie's own value; the code in the redirect to the client). A page
        may hold its own CSRF token, in its form."""
        places = []
        for response in self.responses:
            if response.request.url.path == "/token" and response.status_code == 200:
                continue
            headers = "\n".join(
                f"{name}: {value}"
                for name, value in response.headers.multi_items()
                if name not in ("set-cookie", "location")
            )
            what = f"{response.request.method} {response.request.url.path} {response.status_code}"
            places.append((what, f"{headers}\n\n{response.text}", csrf_tokens_of(response)))
        return places

    @property
    def error_bodies(self) -> list[str]:
        return [r.text for r in self.responses if r.status_code >= 400]

    @property
    def pages(self) -> list[str]:
        return [r.text for r in self.responses if is_page(r)]

    @property
    def cookie_values(self) -> set[str]:
        return {value for r in self.responses for value in r.cookies.values() if value}


def is_page(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/html")


def csrf_tokens_of(response: httpx.Response) -> set[str]:
    if not is_page(response):
        return set()
    return {value for name, value in hidden_fields(response.text) if name == "csrf_token"}


def private_key_material(keys_dir: Path, passphrase: str) -> list[str]:
    """Each signing key's private parts as they could leak: the JWK members of the private
    key (RFC 7518 §6.3.2), and every line of its PEM forms (PKCS#8 and PKCS#1)."""
    store = FileKeyStore(keys_dir, passphrase)
    material = []
    for record in store.read_records():
        key = store.load_private_key(record.kid)
        members = key.as_dict(private=True)
        material += [members[name] for name in ("d", "p", "q", "dp", "dq", "qi")]
        for form in (
            serialization.PrivateFormat.PKCS8,
            serialization.PrivateFormat.TraditionalOpenSSL,
        ):
            pem = key.private_key.private_bytes(  # type: ignore[union-attr]
                serialization.Encoding.PEM, form, serialization.NoEncryption()
            ).decode("ascii")
            material += [line for line in pem.splitlines() if not line.startswith("-----")]
    assert len(material) > 20
    return material


def until_refused(request: Callable[[], httpx.Response], attempts: int) -> int:
    """Send the request until it is refused (or `attempts` are used up); the last status."""
    status = 0
    for _ in range(attempts):
        if (status := request().status_code) >= 400:
            break
    return status


def leaks(values: Iterable[str], text: str) -> list[str]:
    return [value for value in values if value in text]


def test_no_secret_of_a_full_flow_reaches_the_log_an_error_a_page_or_the_metrics(
    database: Database, tmp_path: Path
) -> None:
    web_app, web_secret = make_web_app(database)
    service, service_secret = make_client(database)
    assert web_secret and service_secret
    password, bob_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    wrong_passwords = [secrets.token_urlsafe(12) for _ in range(8)]
    make_user(database, "alice", password)
    make_user(database, "bob", bob_password)
    passphrase, metrics_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    wrong_secret = secrets.token_urlsafe(32)
    keys_dir, log = tmp_path / "keys", tmp_path / "server.log"
    environment = cli_environment(
        database.url,
        keys_dir,
        AUTHSERVER_MODE="production",
        AUTHSERVER_KEYS_PASSPHRASE=passphrase,
        AUTHSERVER_METRICS_TOKEN=metrics_token,
        AUTHSERVER_LOG_FORMAT="json",
        AUTHSERVER_CLIENT_RATE_LIMIT=f"{RATE_LIMIT}/minute",
    )
    recorder = Recorder()
    web_auth, service_auth = (web_app.client_id, web_secret), (service.client_id, service_secret)
    grants: list[dict[str, Any]] = []
    verifiers: list[str] = []
    codes: list[str] = []
    with (
        running_server(environment, "--access-log", log=log) as base_url,
        httpx.Client(base_url=base_url, timeout=10, event_hooks={"response": [recorder]}) as http,
    ):
        # A failed sign-in, a sign-in, then the code flow with PKCE twice (consent once).
        assert sign_in(http, "alice", wrong_passwords[0]).status_code == 200
        assert sign_in(http, "alice", password).status_code == 303
        for _ in range(2):
            pkce = Pkce()
            code = code_of(http, web_app.client_id, pkce, scope="openid profile", nonce="n-1")
            codes.append(code)
            verifiers.append(pkce.verifier)
            issued = exchange_code(http, web_app.client_id, web_secret, code, pkce.verifier)
            assert issued.status_code == 200, issued.text
            grants.append(issued.json())
        # A code used twice; refresh, reuse of the rotated token; introspection; userinfo;
        # revocation.
        replay = exchange_code(http, web_app.client_id, web_secret, codes[0], verifiers[0])
        assert replay.json()["error"] == "invalid_grant"
        refresh = {"grant_type": "refresh_token", "refresh_token": grants[1]["refresh_token"]}
        refreshed = http.post("/token", data=refresh, auth=web_auth)
        assert refreshed.status_code == 200, refreshed.text
        grants.append(refreshed.json())
        introspected = http.post(
            "/introspect", data={"token": grants[2]["access_token"]}, auth=web_auth
        )
        assert introspected.json()["active"] is True
        bearer = {"Authorization": f"Bearer {grants[2]['access_token']}"}
        assert http.get("/userinfo", headers=bearer).json()["sub"]
        revoke = {"token": grants[2]["refresh_token"], "token_type_hint": "refresh_token"}
        assert http.post("/revoke", data=revoke, auth=web_auth).status_code == 200
        assert http.post("/token", data=refresh, auth=web_auth).json()["error"] == "invalid_grant"
        # Bad client secrets, with Basic and in the body; at /userinfo an access token of
        # the replayed code, revoked with it (SECURITY-CHECKLIST, /token).
        assert (
            http.post("/token", data=refresh, auth=(web_app.client_id, wrong_secret)).status_code
            == 401
        )
        body_credentials = {
            "grant_type": "client_credentials",
            "client_id": service.client_id,
            "client_secret": wrong_secret,
        }
        assert http.post("/token", data=body_credentials).status_code == 401
        revoked_bearer = {"Authorization": f"Bearer {grants[0]['access_token']}"}
        assert http.get("/userinfo", headers=revoked_bearer).status_code == 401
        # RP-initiated logout with the id_token in the query string (OIDC RP-Initiated
        # Logout 1.0 §2).
        logout = {
            "id_token_hint": grants[1]["id_token"],
            "post_logout_redirect_uri": WEB_APP_LOGOUT_URI,
            "state": "s-1",
        }
        assert http.get("/logout", params=logout).status_code == 303
        # Rate limits: a client over its /introspect rate, an account over its sign-ins.
        over_rate = until_refused(
            lambda: http.post("/introspect", data={"token": "x"}, auth=service_auth),
            RATE_LIMIT + 5,
        )
        assert over_rate == 429
        guesses = iter(wrong_passwords[1:])
        assert until_refused(lambda: sign_in(http, "bob", next(guesses)), 7) == 429
        # The metrics, refused without the token, then scraped with it.
        assert http.get("/metrics").status_code == 401
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert scraped.status_code == 200
        metrics = scraped.text

    log_text = log.read_text()
    secret_values = {
        "client secret": [web_secret, service_secret, wrong_secret],
        "password": [password, bob_password, *wrong_passwords],
        "code": codes,
        "code_verifier": verifiers,
        "access token": [g["access_token"] for g in grants],
        "refresh token": [g["refresh_token"] for g in grants],
        "id_token": [g["id_token"] for g in grants if "id_token" in g],
        "csrf token": sorted({t for r in recorder.responses for t in csrf_tokens_of(r)}),
        "cookie": sorted(recorder.cookie_values),
        "keys passphrase": [passphrase],
        "metrics token": [metrics_token],
        "private key": private_key_material(keys_dir, passphrase),
    }
    for kind, values in secret_values.items():
        assert values, kind
        assert all(len(value) >= 16 for value in values), kind  # long enough to be unique
    every_secret = {value for values in secret_values.values() for value in values}

    # The scan sees what it should: the log holds the flow (audit and access lines), the
    # answers hold pages and errors, the metrics hold counters; and the same scan finds a
    # value that is there (the client_id, in the log and in the sign-in and consent pages).
    assert '"logger":"authserver.access"' in log_text and '"audit":"token.issued"' in log_text
    assert '"query":"id_token_hint=[redacted]' in log_text
    places = recorder.where_secrets_must_not_be()
    assert len(recorder.pages) >= 5 and all("<form" in p or "<h1" in p for p in recorder.pages)
    assert any('"invalid_client"' in body for body in recorder.error_bodies)
    assert any(r.status_code == 429 and is_page(r) for r in recorder.responses)
    assert "authserver_http_requests" in metrics and len(metrics) > 1000
    assert leaks([web_app.client_id], log_text) == [web_app.client_id]
    assert [what for what, text, _ in places if leaks([web_app.client_id], text)]

    assert leaks(every_secret, log_text) == []
    assert "PRIVATE KEY" not in log_text
    assert leaks(every_secret, metrics) == []
    found = {
        what: leaks(every_secret - allowed, html.unescape(text) + text)
        for what, text, allowed in places
    }
    assert {what: values for what, values in found.items() if values} == {}
