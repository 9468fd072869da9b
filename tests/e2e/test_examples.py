"""The example resource services against a real server: orders and profile (FastAPI with
`authserver.resource`) and invoices (Express with jose), each on loopback.

A token is accepted only where its audience (RFC 8707, RFC 9068 §4 step 4) and scope fit,
and refused elsewhere as RFC 6750 §3.1 says; and the Express service accepts and refuses
exactly the tokens the Python `Verifier` does (RFC 9068 §4, RFC 8725).
"""

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import RSAKey

from authserver.resource import BearerTokenError, Verifier
from tests.conftest import copy_of_template_keys, database_for_a_test
from tests.e2e.examples import (
    express_dependencies_problem,
    running_express_example,
    running_fastapi_example,
)
from tests.e2e.processes import cli_environment, running_server
from tests.factories import make_client, make_user, make_web_app
from tests.flows import code_flow_tokens
from tests.resource.forge import (
    HEADER,
    access_claims,
    current_signing_key,
    hs256,
    new_rsa_key,
    rs256,
    unsigned,
)

pytestmark = pytest.mark.e2e

ORDERS = "https://orders.example.test"
PROFILE = "https://profile.example.test"
INVOICES = "https://invoices.example.test"
SCOPES = "orders:read orders:write profile:read invoices:read"
TIMEOUT_S = 10


@dataclass
class Issuer:
    """A running `authserver serve`, a client_credentials client for all three services,
    and a web app (code flow, a user) whose tokens may name the invoices service."""

    base_url: str
    keys_dir: Path
    client: tuple[str, str]
    web_app: tuple[str, str]

    def access_token(self, resource: str, scope: str) -> str:
        data = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        response = httpx.post(
            f"{self.base_url}/token", data=data, auth=self.client, timeout=TIMEOUT_S
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def code_flow_tokens(self) -> dict[str, Any]:
        """The user's tokens for the web app; the access token names the invoices service."""
        client_id, secret = self.web_app
        return code_flow_tokens(
            self.base_url,
            client_id,
            secret,
            scope="openid profile invoices:read",
            resource=INVOICES,
        )

    def signing_key(self) -> RSAKey:
        return current_signing_key(self.keys_dir)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def issuer(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    template_keys_dir: Path,
) -> Iterator[Issuer]:
    """One server per database for the whole module: starting four processes takes seconds."""
    url = request.getfixturevalue(f"{request.param}_url")
    keys_dir = copy_of_template_keys(
        template_keys_dir, tmp_path_factory.mktemp(f"examples-{request.param}")
    )
    with contextmanager(database_for_a_test)(url) as database:
        client, secret = make_client(database, scope=SCOPES, audiences=[ORDERS, PROFILE, INVOICES])
        web_app, web_secret = make_web_app(
            database, scope="openid profile invoices:read", audiences=[INVOICES], skip_consent=True
        )
        make_user(database)
        assert secret is not None and web_secret is not None
        with running_server(cli_environment(database.url, keys_dir)) as base_url:
            yield Issuer(
                base_url, keys_dir, (client.client_id, secret), (web_app.client_id, web_secret)
            )


@pytest.fixture(scope="module")
def python_services(
    issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The base URLs of the orders and profile examples, trusting `issuer`."""
    logs = tmp_path_factory.mktemp("example-logs")
    with ExitStack() as stack:
        yield {
            "orders": stack.enter_context(
                running_fastapi_example("orders", issuer.base_url, ORDERS, "/orders", logs)
            ),
            "profile": stack.enter_context(
                running_fastapi_example("profile", issuer.base_url, PROFILE, "/profile", logs)
            ),
        }


@pytest.fixture(scope="session")
def express_dependencies() -> None:
    """Skips (with the reason) only when node or npm is missing or `npm ci` fails."""
    problem = express_dependencies_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def express_service(
    express_dependencies: None, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("example-logs")
    with running_express_example(issuer.base_url, INVOICES, "/invoices", logs) as base_url:
        yield base_url


# --- A token accepted where its audience and scope fit, refused elsewhere ---------------

OK = "ok"
NO_TOKEN = "401"  # RFC 6750 §3.1: a bare `WWW-Authenticate: Bearer`, no error code
WRONG_AUDIENCE = "401 invalid_token"


def lacks(scope: str) -> str:
    return f"403 insufficient_scope {scope}"


# The service and request of each column; a row: a token's (resource, scope), or no token.
ENDPOINTS = {
    "GET /orders": ("orders", "GET", "/orders"),
    "POST /orders": ("orders", "POST", "/orders"),
    "GET /profile": ("profile", "GET", "/profile"),
    "GET /invoices": ("invoices", "GET", "/invoices"),
}
ROUTING: dict[tuple[str, str] | None, tuple[str, str, str, str]] = {
    (ORDERS, "orders:read"): (OK, lacks("orders:write"), WRONG_AUDIENCE, WRONG_AUDIENCE),
    (ORDERS, "orders:read orders:write"): (OK, OK, WRONG_AUDIENCE, WRONG_AUDIENCE),
    (ORDERS, "profile:read invoices:read"): (
        lacks("orders:read"),
        lacks("orders:write"),
        WRONG_AUDIENCE,
        WRONG_AUDIENCE,
    ),
    (PROFILE, "profile:read"): (WRONG_AUDIENCE, WRONG_AUDIENCE, OK, WRONG_AUDIENCE),
    (PROFILE, "orders:read invoices:read"): (
        WRONG_AUDIENCE,
        WRONG_AUDIENCE,
        lacks("profile:read"),
        WRONG_AUDIENCE,
    ),
    (INVOICES, "invoices:read"): (WRONG_AUDIENCE, WRONG_AUDIENCE, WRONG_AUDIENCE, OK),
    (INVOICES, "orders:read profile:read"): (
        WRONG_AUDIENCE,
        WRONG_AUDIENCE,
        WRONG_AUDIENCE,
        lacks("invoices:read"),
    ),
    None: (NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN),
}


def row_name(row: tuple[str, str] | None) -> str:
    return "no token" if row is None else f"{row[0]} {row[1]}"


def outcome(response: httpx.Response) -> str:
    """`ok`, or the status, RFC 6750 error code and required scope of the refusal."""
    if response.is_success:
        return OK
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.split(" ")[0] == "Bearer", (response.status_code, challenge)
    parameters = dict(re.findall(r'([a-z_]+)="([^"]*)"', challenge))
    body = response.json()
    # The challenge and the JSON body say the same (RFC 6750 §3, RFC 6749 §5.2).
    assert body.get("error") == parameters.get("error"), (body, challenge)
    if parameters.get("error") == "invalid_token":
        # Every invalid_token here is a token meant for another service.
        assert "aud" in parameters["error_description"], challenge
    parts = [str(response.status_code), parameters.get("error"), parameters.get("scope")]
    return " ".join(part for part in parts if part)


@pytest.fixture(scope="module")
def routing_tokens(issuer: Issuer) -> dict[str, str | None]:
    """One token per row, minted once: every service is shown the very same token."""
    return {row_name(row): None if row is None else issuer.access_token(*row) for row in ROUTING}


def routing_table(
    tokens: dict[str, str | None], services: dict[str, str], columns: list[str]
) -> dict[str, dict[str, str]]:
    """Row name -> column -> what that endpoint answers to that row's token."""
    table: dict[str, dict[str, str]] = {}
    with httpx.Client(timeout=TIMEOUT_S) as http:
        for name, token in tokens.items():
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            answers = {}
            for column in columns:
                service, method, path = ENDPOINTS[column]
                order = {"item": "tea", "quantity": 1} if method == "POST" else None
                url = services[service] + path
                answers[column] = outcome(http.request(method, url, headers=headers, json=order))
            table[name] = answers
    return table


def expected_table(columns: list[str]) -> dict[str, dict[str, str]]:
    index = list(ENDPOINTS)
    return {
        row_name(row): {column: expected[index.index(column)] for column in columns}
        for row, expected in ROUTING.items()
    }


def test_the_python_services_accept_a_token_only_where_its_audience_and_scope_fit(
    routing_tokens: dict[str, str | None], python_services: dict[str, str]
) -> None:
    columns = ["GET /orders", "POST /orders", "GET /profile"]
    assert routing_table(routing_tokens, python_services, columns) == expected_table(columns)


def test_the_express_service_accepts_a_token_only_where_its_audience_and_scope_fit(
    routing_tokens: dict[str, str | None], express_service: str
) -> None:
    columns = ["GET /invoices"]
    services = {"invoices": express_service}
    assert routing_table(routing_tokens, services, columns) == expected_table(columns)


# --- Express and the Python verifier: the same tokens accepted, the same refused ---------


@dataclass
class Forgery:
    """What a token maker may use: the issuer, its signing key, an attacker's key."""

    issuer: Issuer
    key: RSAKey
    attacker: RSAKey
    code_flow: dict[str, Any]

    @property
    def now(self) -> int:
        return int(time.time())

    def claims(self, **changes: Any) -> dict[str, Any]:
        return access_claims(self.issuer.base_url, INVOICES, scope="invoices:read", **changes)

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {**HEADER, "kid": self.key.kid, **changes}
        return {name: value for name, value in header.items() if value is not None}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return rs256(self.header(**header), claims, self.key)

    def issued(self, resource: str = INVOICES, scope: str = "invoices:read") -> str:
        return self.issuer.access_token(resource, scope)


def public_pem(key: RSAKey) -> bytes:
    return key.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def with_payload(token: str, **changes: Any) -> str:
    """The same header and signature around a changed payload."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps({**claims, **changes}, separators=(",", ":")).encode()
    return f"{header}.{base64.urlsafe_b64encode(changed).rstrip(b'=').decode()}.{signature}"


ACCEPTED = "200"
INVALID = "401 invalid_token"
SCOPE_LACKING = "403 insufficient_scope"

# name -> (outcome, a word both refusals' descriptions must contain, how to make the token).
PARITY: dict[str, tuple[str, str, Callable[[Forgery], str]]] = {
    "issued by the server": (ACCEPTED, "", lambda f: f.issued()),
    "the code flow's access token": (ACCEPTED, "", lambda f: f.code_flow["access_token"]),
    "forged with the server's key, all valid": (ACCEPTED, "", lambda f: f.sign(f.claims())),
    "exp 30 s ago (within the leeway)": (
        ACCEPTED,
        "",
        lambda f: f.sign(f.claims(exp=f.now - 30)),
    ),
    "aud a list with ours": (
        ACCEPTED,
        "",
        lambda f: f.sign(f.claims(aud=["https://a.example.test", INVOICES])),
    ),
    "typ application/at+jwt": (
        ACCEPTED,
        "",
        lambda f: f.sign(f.claims(), typ="application/at+jwt"),
    ),
    "valid without the scope": (
        SCOPE_LACKING,
        "invoices:read",
        lambda f: f.issued(scope="orders:read"),
    ),
    "expired": (INVALID, "exp", lambda f: f.sign(f.claims(exp=f.now - 61, iat=f.now - 900))),
    "not yet valid (nbf)": (INVALID, "nbf", lambda f: f.sign(f.claims(nbf=f.now + 120))),
    "wrong iss": (INVALID, "iss", lambda f: f.sign(f.claims(iss="https://evil.example.test"))),
    "wrong aud (issued for orders)": (
        INVALID,
        "aud",
        lambda f: f.issued(ORDERS, "invoices:read"),
    ),
    "alg none": (INVALID, "alg", lambda f: unsigned(f.header(), f.claims())),
    "HS256 keyed with the public key": (
        INVALID,
        "alg",
        lambda f: hs256(f.header(), f.claims(), public_pem(f.key)),
    ),
    "tampered payload (aud changed)": (
        INVALID,
        "signature",
        lambda f: with_payload(f.issued(ORDERS, "invoices:read"), aud=INVOICES),
    ),
    "an id_token (code flow)": (INVALID, "typ", lambda f: f.code_flow["id_token"]),
    "typ JWT": (INVALID, "typ", lambda f: f.sign(f.claims(), typ="JWT")),
    "unknown kid": (
        INVALID,
        "key",
        lambda f: rs256(f.header(kid=secrets.token_urlsafe(12)), f.claims(), f.attacker),
    ),
    "our kid, another key's signature": (
        INVALID,
        "signature",
        lambda f: rs256(f.header(), f.claims(), f.attacker),
    ),
    "no kid": (INVALID, "kid", lambda f: f.sign(f.claims(), kid=None)),
    "no client_id claim": (INVALID, "client_id", lambda f: f.sign(f.claims(client_id=None))),
}


def python_outcome(verifier: Verifier, token: str) -> tuple[str, str]:
    """`200`, or the status and RFC 6750 error code of the refusal, and its description."""
    try:
        verifier.verify(token).require_scopes("invoices:read")
    except BearerTokenError as error:
        return f"{error.status_code} {error.error}", error.description
    return ACCEPTED, ""


def express_outcome(http: httpx.Client, express_service: str, token: str) -> tuple[str, str]:
    """As `python_outcome`, from the Express service's answer."""
    response = http.get(f"{express_service}/invoices", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 200:
        return ACCEPTED, ""
    body = response.json()
    return f"{response.status_code} {body.get('error')}", body.get("error_description", "")


def test_express_and_the_python_verifier_accept_and_refuse_the_same_tokens(
    issuer: Issuer, express_service: str
) -> None:
    forgery = Forgery(issuer, issuer.signing_key(), new_rsa_key(), issuer.code_flow_tokens())
    tokens = {name: make(forgery) for name, (_, _, make) in PARITY.items()}

    with (
        httpx.Client(timeout=TIMEOUT_S) as http,
        Verifier(issuer.base_url, INVOICES, http=http) as verifier,
    ):
        python = {name: python_outcome(verifier, token) for name, token in tokens.items()}
        express = {name: express_outcome(http, express_service, t) for name, t in tokens.items()}

    for name in PARITY:
        (py, py_reason), (js, js_reason) = python[name], express[name]
        print(f"{name:40} python {py:23} {py_reason:60} express {js:23} {js_reason}")
    expected = {name: outcome for name, (outcome, _, _) in PARITY.items()}
    assert {name: outcome for name, (outcome, _) in express.items()} == expected
    assert {name: outcome for name, (outcome, _) in python.items()} == expected
    # Refused for the same reason: the word the case names is in both descriptions.
    mismatched = {
        name: (python[name][1], express[name][1])
        for name, (_, word, _) in PARITY.items()
        if word not in python[name][1] or word not in express[name][1]
    }
    assert mismatched == {}
