"""Schemathesis over every operation of /openapi.json, in process (issue 14, SECURITY-CHECKLIST
test 7): no 500, and no response that breaks its own description (status, media type,
headers, body schema), nor a 2xx from /userinfo without its credentials (`ignored_auth`).

The app runs on a migrated SQLite database of its own, with a real user and real clients.
So that the run reaches the success paths too, and not only the refusals, each case may have
its generated credentials swapped for real ones (HTTP Basic or client_secret_post of a real
client, a real access or refresh token, a signed-in browser's cookies, valid CSRF tokens, a
complete authorization request): a Hypothesis draw per case, so a failure still shrinks and
replays. Each operation gets `MAX_EXAMPLES` cases at most, half drawn to fit the description
and half to break it (schemathesis's positive and negative modes), derandomized so that CI
runs the same cases every time. The cases sent and the statuses they got are printed after
the session (tests/fuzz/conftest.py).

The operations are driven through `APIOperation.as_strategy` rather than `@schema.parametrize`:
a schema must come from a fixture here (a database, keys, an app), and schemathesis's
`from_fixture` loader fails under pytest 9.2 (`Function` has no `_nodeid`). Schemathesis's
coverage phase, which only the pytest plugin and the CLI run, is therefore not run; methods
the description does not list are checked in tests/http/test_openapi.py instead.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans

from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.http.openapi import openapi_document
from authserver.registration.tokens import issue_initial_access_token
from authserver.schema import upgrade_database
from authserver.settings import Settings
from tests.conftest import ISSUER, make_settings
from tests.factories import WEB_APP_REDIRECT_URI, make_client, make_user, make_web_app
from tests.flows import Grant, Pkce, csrf_token_of, grant_for, sign_in
from tests.fuzz.conftest import FUZZ_CASES
from tests.http.registration import WEB_APP_METADATA, register
from tests.http.tokens import basic, request_token

MAX_EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]

# Edits a case in place, or adds to the headers sent with it: a header given to `call` and
# `validate_response` counts as real credentials (`ignored_auth` then probes without them),
# and is dropped where schemathesis's negative mode removed that header on purpose.
Adjust = Callable[[schemathesis.Case, dict[str, str]], None]


@dataclass(frozen=True)
class Known:
    """Real credentials, tokens and browsers the cases may use instead of generated ones.

    Each operation gets tokens of its own: /revoke and a refresh replay at /token end a
    family, which must not turn /userinfo's tokens inactive before its cases run."""

    service: tuple[str, str]
    web_app: tuple[str, str]
    userinfo_token: str  # openid profile email: /userinfo answers 200
    no_openid_token: str  # orders:read only: /userinfo answers 403
    service_token: str  # client_credentials: no user, /userinfo answers 401
    spent: Grant  # its tokens go to /token, /revoke and /introspect
    browser: dict[str, str]  # cookies of a signed-in browser
    login_csrf: str  # that browser's CSRF token for the login form
    leaving: dict[str, str]  # another signed-in browser, for /logout
    logout_csrf: str  # that browser's CSRF token for the logout form
    initial_access_token: str  # for /register (RFC 7591 §3), good for many registrations
    registered: tuple[str, str]  # a client's id and registration access token (RFC 7592)


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path) -> Settings:
    """A database of its own (the run leaves sessions and audit rows behind), migrated."""
    directory = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{directory / 'authserver.db'}"
    database = Database(url)
    try:
        upgrade_database(database)
        make_user(database)
    finally:
        database.dispose()
    keys = directory / "keys"
    keys.mkdir(mode=0o700)
    for item in template_keys_dir.iterdir():
        (keys / item.name).write_bytes(item.read_bytes())
        (keys / item.name).chmod(item.stat().st_mode)
    # Registrations unthrottled, so that the fuzz reaches /register's success paths.
    return make_settings(
        database_url=url, keys_dir=keys, client_cache_ttl=0, registration_rate_limit="0"
    )


@pytest.fixture(scope="module")
def known(fuzz_settings: Settings) -> Known:
    """Clients, tokens and browsers, made through HTTP by an app of their own (the fuzzed
    app's lifespan belongs to schemathesis)."""
    database = Database(fuzz_settings.database_url)
    try:
        service, service_secret = make_client(database)
        web_app, web_secret = make_web_app(database)
        with database.transaction() as session:
            initial = issue_initial_access_token(session, utcnow(), max_uses=10_000).token
    finally:
        database.dispose()
    assert service_secret is not None and web_secret is not None
    web = (web_app.client_id, web_secret)
    with TestClient(create_app(fuzz_settings), base_url=ISSUER) as browser:
        userinfo = grant_for(browser, *web, scope="openid profile email")
        no_openid = grant_for(browser, *web, scope="orders:read")
        spent = grant_for(browser, *web, scope="openid orders:read")
        login_csrf = csrf_token_of(browser.get("/login", params={"next": "/login"}).text)
        cookies = dict(browser.cookies)
        service_token = request_token(browser, service.client_id, service_secret).json()
        registered = register(browser, initial, WEB_APP_METADATA).json()
    with TestClient(create_app(fuzz_settings), base_url=ISSUER) as leaving:
        assert sign_in(leaving).status_code == 303
        logout_csrf = csrf_token_of(leaving.get("/login").text)
        leaving_cookies = dict(leaving.cookies)
    return Known(
        service=(service.client_id, service_secret),
        web_app=web,
        userinfo_token=userinfo.access_token,
        no_openid_token=no_openid.access_token,
        service_token=service_token["access_token"],
        spent=spent,
        browser=cookies,
        login_csrf=login_csrf,
        leaving=leaving_cookies,
        logout_csrf=logout_csrf,
        initial_access_token=initial,
        registered=(registered["client_id"], registered["registration_access_token"]),
    )


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_settings: Settings) -> Iterator[schemathesis.BaseSchema]:
    """The description as the app serves it; schemathesis calls that app in process."""
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_settings))
    shutdown_lifespans()


def _as_generated(_: schemathesis.Case, __: dict[str, str]) -> None:
    """Leave the case as schemathesis drew it."""


def _adjustments(known: Known) -> dict[str, list[list[Adjust]]]:
    """Per path, independent choices: one adjustment is drawn from each list. The real
    values come first: Hypothesis leans towards the first element, and shrinks to it."""
    client_auth = [
        _basic(*known.service),
        _basic(*known.web_app),
        _post(*known.service),
        _post(*known.web_app),
        _as_generated,
    ]
    tokens = [
        _form_fields(token=known.spent.access_token),
        _form_fields(token=known.spent.refresh_token),
        _form_fields(token=known.service_token),
        _as_generated,
    ]
    signed_in = _cookies(known.browser)
    login = _form_fields(csrf_token=known.login_csrf, username="alice", password="correct horse")
    leaving = _cookies(known.leaving)
    logout = _form_fields(csrf_token=known.logout_csrf, decision="logout")
    return {
        "/token": [
            client_auth,
            [_refresh_with(known.spent.refresh_token), _client_credentials, _as_generated],
        ],
        "/revoke": [client_auth, tokens],
        "/introspect": [client_auth, tokens],
        "/userinfo": [
            [
                _bearer(known.userinfo_token),
                _bearer(known.no_openid_token),
                _bearer(known.service_token),
                _as_generated,
            ]
        ],
        "/authorize": [
            [signed_in, _as_generated],
            [
                # A whole valid request: a code, or the consent page when it is asked for.
                _registered(known.web_app[0], scope="openid profile"),
                _registered(known.web_app[0], scope="openid email", prompt="consent"),
                _registered(known.web_app[0]),
                _as_generated,
            ],
        ],
        # RFC 9126 §2.1: the web app's whole request, pushed: 201 with its credentials.
        "/par": [
            client_auth,
            [_registered(known.web_app[0], scope="openid profile"), _as_generated],
        ],
        "/login": [[_both(signed_in, login), signed_in, _as_generated]],
        "/logout": [[_both(leaving, logout), leaving, _as_generated]],
        "/register": [
            [_bearer(known.initial_access_token), _as_generated],
            [_valid_metadata, _as_generated],
        ],
        "/register/{client_id}": [
            [_manages(*known.registered), _as_generated],
            [_valid_metadata, _as_generated],
        ],
    }


def _both(first: Adjust, second: Adjust) -> Adjust:
    def adjust(case: schemathesis.Case, headers: dict[str, str]) -> None:
        first(case, headers)
        second(case, headers)

    return adjust


def _form(case: schemathesis.Case) -> dict[str, Any] | None:
    return case.body if isinstance(case.body, dict) else None


def _basic(client_id: str, secret: str) -> Adjust:
    def adjust(case: schemathesis.Case, headers: dict[str, str]) -> None:
        headers.update(basic(client_id, secret))
        if (form := _form(case)) is not None:
            form.pop("client_secret", None)
            form.pop("client_id", None)

    return adjust


def _post(client_id: str, secret: str) -> Adjust:
    def adjust(case: schemathesis.Case, _: dict[str, str]) -> None:
        if case.headers:
            case.headers.pop("Authorization", None)
        if (form := _form(case)) is not None:
            form.update(client_id=client_id, client_secret=secret)

    return adjust


def _form_fields(**values: str) -> Adjust:
    def adjust(case: schemathesis.Case, _: dict[str, str]) -> None:
        if (form := _form(case)) is not None:
            form.update(values)

    return adjust


def _refresh_with(token: str) -> Adjust:
    def adjust(case: schemathesis.Case, _: dict[str, str]) -> None:
        if (form := _form(case)) is not None and form.get("grant_type") == "refresh_token":
            form["refresh_token"] = token

    return adjust


def _client_credentials(case: schemathesis.Case, _: dict[str, str]) -> None:
    """The plainest token request, which a client_credentials client gets a token for."""
    if (form := _form(case)) is not None:
        client = {name: form[name] for name in ("client_id", "client_secret") if name in form}
        case.body = {"grant_type": "client_credentials", **client}


def _bearer(token: str) -> Adjust:
    def adjust(_: schemathesis.Case, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {token}"

    return adjust


def _manages(client_id: str, registration_access_token: str) -> Adjust:
    """The registered client's path, token and (in an update's body) client_id."""

    def adjust(case: schemathesis.Case, headers: dict[str, str]) -> None:
        case.path_parameters = {**(case.path_parameters or {}), "client_id": client_id}
        headers["Authorization"] = f"Bearer {registration_access_token}"
        if isinstance(case.body, dict):
            case.body["client_id"] = client_id

    return adjust


def _valid_metadata(case: schemathesis.Case, _: dict[str, str]) -> None:
    """A web app's whole metadata as the body (keeping an update's client_id)."""
    if isinstance(case.body, dict):
        kept = {name: case.body[name] for name in ("client_id",) if name in case.body}
        case.body = {**WEB_APP_METADATA, **kept}


def _cookies(cookies: dict[str, str]) -> Adjust:
    def adjust(case: schemathesis.Case, _: dict[str, str]) -> None:
        case.cookies = {**(case.cookies or {}), **cookies}

    return adjust


def _registered(client_id: str, **extra: str) -> Adjust:
    """The web app's client_id, redirect_uri and a well-formed PKCE challenge (and `extra`)."""
    values = {
        "client_id": client_id,
        "redirect_uri": WEB_APP_REDIRECT_URI,
        "code_challenge": Pkce().challenge,
        "code_challenge_method": "S256",
        "response_type": "code",
        **extra,
    }

    def adjust(case: schemathesis.Case, _: dict[str, str]) -> None:
        if case.method == "GET":
            case.query = {**(case.query or {}), **values}
        elif (form := _form(case)) is not None:
            form.update(values)

    return adjust


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation: the ids of the parametrized test."""
    paths = json.loads(openapi_document(make_settings()))["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: str(value))
def test_no_operation_answers_500_or_breaks_its_description(
    fuzz_schema: schemathesis.BaseSchema,
    known: Known,
    request: pytest.FixtureRequest,
    method: str,
    path: str,
) -> None:
    operation = fuzz_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    choices = _adjustments(known).get(path, [])
    adjustments = st.tuples(*(st.sampled_from(choice) for choice in choices))
    statuses = request.config.stash[FUZZ_CASES]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases, chosen=adjustments)
    def fuzz(case: schemathesis.Case, chosen: tuple[Adjust, ...]) -> None:
        headers: dict[str, str] = {}
        for adjust in chosen:
            adjust(case, headers)
        response = case.call(headers=headers)
        statuses.setdefault(operation.label, Counter())[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()
