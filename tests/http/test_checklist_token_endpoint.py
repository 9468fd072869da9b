"""SECURITY-CHECKLIST "/token": the form reader's edges at every form endpoint, fixed error
descriptions, client authentication at /token, /revoke and /introspect alike, grants a
client may not use, the code's 60 s, and a code without a challenge.

tests/http/test_token_hostile_input.py covers /token's malformed bodies, and
tests/unit/test_parser_properties.py the parser's properties; here the same reader is
shown at its exact limits (64 fields, 16 KiB) over HTTP, at /revoke and /introspect too.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import select

from authserver.app import create_app
from authserver.clock import utcnow
from authserver.db import Database
from authserver.tokens.models import AuthorizationCode
from authserver.tokens.repository import CodeRepository
from authserver.users.models import User
from tests.conftest import ISSUER, copy_of_template_keys, make_settings, migrated_sqlite
from tests.factories import WEB_APP_REDIRECT_URI, make_client, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code
from tests.http.tokens import assert_oauth_error, basic

FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 64
ENDPOINTS = ["/token", "/revoke", "/introspect"]
# What each endpoint needs besides padding, and what it answers when it read the form.
ESSENTIAL = {
    "/token": "grant_type=client_credentials",
    "/revoke": "token=unknown-token",
    "/introspect": "token=unknown-token",
}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The form reader and client authentication run before storage: SQLite suffices."""
    return sqlite_url


@dataclass(frozen=True)
class Server:
    """One app for the cases that change nothing stored (the form reader, client
    authentication, error answers): its own SQLite database, built once per module."""

    http: TestClient
    caller: dict[str, str]  # HTTP Basic of a client with every grant, allowed to introspect
    client_id: str
    secret: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("token-endpoint")
    database = migrated_sqlite(directory)
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    client, secret = make_client(
        database,
        grant_types=["authorization_code", "client_credentials", "refresh_token"],
        redirect_uris=[WEB_APP_REDIRECT_URI],
        can_introspect=True,
    )
    assert secret is not None
    settings = make_settings(database_url=database.url, keys_dir=keys_dir)
    try:
        with TestClient(create_app(settings), base_url=ISSUER) as http:
            yield Server(http, basic(client.client_id, secret), client.client_id, secret)
    finally:
        database.dispose()


def post_raw(http: TestClient, path: str, body: bytes, headers: dict[str, str]) -> Response:
    return http.post(path, content=body, headers={**headers, "Content-Type": FORM})


def padded_to_fields(path: str, fields: int) -> bytes:
    padding = [f"p{number}=x" for number in range(fields - 1)]
    return "&".join([ESSENTIAL[path], *padding]).encode()


def padded_to_bytes(path: str, size: int) -> bytes:
    start = f"{ESSENTIAL[path]}&pad=".encode()
    return start + b"x" * (size - len(start))


def assert_read(response: Response) -> None:
    """The form was read: the endpoint did its work (a token, 200 for /revoke, inactive)."""
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("make_body", "accepted"),
    [
        (lambda path: padded_to_fields(path, MAX_FIELDS), True),
        (lambda path: padded_to_fields(path, MAX_FIELDS + 1), False),
        (lambda path: padded_to_bytes(path, MAX_BODY_BYTES), True),
        (lambda path: padded_to_bytes(path, MAX_BODY_BYTES + 1), False),
    ],
    ids=["64 fields", "65 fields", "16 KiB", "16 KiB + 1 byte"],
)
def test_a_form_of_64_fields_and_16_kib_is_read_and_one_more_is_refused(
    server: Server,
    path: str,
    make_body: Callable[[str], bytes],
    accepted: bool,
) -> None:
    """SECURITY-CHECKLIST "/token": body ≤ 16 KiB and 64 fields [RFC 6749 §3.2, §5.2:
    `invalid_request`], exact at both edges, at every form endpoint."""
    response = post_raw(server.http, path, make_body(path), server.caller)
    if accepted:
        assert_read(response)
    else:
        assert_oauth_error(response, 400, "invalid_request")


MALFORMED: dict[str, tuple[str, bytes]] = {
    "multipart": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="token"\r\n\r\nabc\r\n--x--\r\n',
    ),
    "json": ("application/json", b'{"token": "abc"}'),
    "text/plain": ("text/plain", b"token=abc"),
    "latin-1 charset": (f"{FORM}; charset=iso-8859-1", b"token=abc"),
    "raw bytes not UTF-8": (FORM, b"token=\xff\xfe"),
    "percent-encoded bytes not UTF-8": (FORM, b"token=%C3%28"),
    "overlong UTF-8": (FORM, b"token=%C0%AF"),
    "a surrogate in UTF-8": (FORM, b"token=%ED%A0%80"),
    "a repeated parameter": (FORM, b"token=abc&token=def"),
    "a NUL": (FORM, b"token=a%00b"),
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("content_type", "body"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_body_that_is_not_a_strict_utf8_urlencoded_form_is_invalid_request(
    server: Server, path: str, content_type: str, body: bytes
) -> None:
    """SECURITY-CHECKLIST "/token": form-urlencoded only (never multipart), strict UTF-8,
    a duplicated parameter → `invalid_request` [RFC 6749 §3.2, §3.1, Appendix B], at
    /revoke and /introspect as at /token; never a 422."""
    if path == "/token":
        body = body.replace(b"token", b"scope")
    headers = {**server.caller, "Content-Type": content_type}
    response = server.http.post(path, content=body, headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


# Pairs of hostile values of one kind: an answer that depends on more than the kind is
# not fixed; one that contains either value echoes its input.
TWINS = {
    "markup": ("<script>alert(1)</script>", "<script>alert(2)</script>"),
    "quotes and backslashes": ('"a" \\ b', '"c" \\ d'),
    "CR LF": ("\r\nSet-Cookie: a=1", "\r\nSet-Cookie: b=2"),
    "non-ASCII": ("zürich☃", "zürick★"),
    "3000 characters": ("q" * 3000, "w" * 3000),
}
# (path, the form around the hostile value, the parameter it goes in)
PARAMETERS: dict[str, tuple[str, dict[str, str], str]] = {
    "grant_type": ("/token", {}, "grant_type"),
    "scope": ("/token", {"grant_type": "client_credentials"}, "scope"),
    "resource": ("/token", {"grant_type": "client_credentials"}, "resource"),
    "code": (
        "/token",
        {
            "grant_type": "authorization_code",
            "redirect_uri": WEB_APP_REDIRECT_URI,
            "code_verifier": "v" * 43,
        },
        "code",
    ),
    "code_verifier": (
        "/token",
        {"grant_type": "authorization_code", "redirect_uri": WEB_APP_REDIRECT_URI, "code": "c"},
        "code_verifier",
    ),
    "redirect_uri": (
        "/token",
        {"grant_type": "authorization_code", "code": "c", "code_verifier": "v" * 43},
        "redirect_uri",
    ),
    "refresh_token": ("/token", {"grant_type": "refresh_token"}, "refresh_token"),
    "token at /revoke": ("/revoke", {}, "token"),
    "token_type_hint at /revoke": ("/revoke", {"token": "t"}, "token_type_hint"),
    "token at /introspect": ("/introspect", {}, "token"),
    "token_type_hint at /introspect": ("/introspect", {"token": "t"}, "token_type_hint"),
}
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARACTERS = {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}


@pytest.mark.parametrize("twins", TWINS.values(), ids=TWINS.keys())
@pytest.mark.parametrize(("path", "form", "name"), PARAMETERS.values(), ids=PARAMETERS.keys())
def test_the_answer_to_a_hostile_value_is_fixed_and_never_echoes_it(
    server: Server,
    path: str,
    form: dict[str, str],
    name: str,
    twins: tuple[str, str],
) -> None:
    """SECURITY-CHECKLIST "/token": never a 422 echoing input; fixed `error_description`
    [RFC 6749 §5.2: its characters exclude `"` and `\\`]. Two values of the same kind get
    byte-identical answers, which contain neither."""
    first, second = (
        server.http.post(path, data={**form, name: value}, headers=server.caller) for value in twins
    )
    assert (first.status_code, first.content) == (second.status_code, second.content)
    assert first.status_code in (200, 400, 401), first.text[:300]
    assert first.headers["cache-control"] == "no-store"
    for value in twins:
        for shown in (value, json.dumps(value)[1:-1], value.strip()):
            assert shown not in first.text
    body = first.json()
    if "error" in body:
        assert set(body.get("error_description", "")) <= DESCRIPTION_CHARACTERS, body


# --- client authentication: the same at every endpoint that asks for it --------------

BOTH_METHODS: dict[str, Callable[[str, str], tuple[dict[str, str], dict[str, str]]]] = {
    "Basic and client_secret in the body": lambda cid, secret: (
        basic(cid, secret),
        {"client_secret": secret},
    ),
    "Basic and client_id with client_secret in the body": lambda cid, secret: (
        basic(cid, secret),
        {"client_id": cid, "client_secret": secret},
    ),
    "Basic and another client_id in the body": lambda cid, secret: (
        basic(cid, secret),
        {"client_id": "someone-else"},
    ),
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("credentials", BOTH_METHODS.values(), ids=BOTH_METHODS.keys())
def test_basic_and_body_credentials_together_are_invalid_request_at_every_endpoint(
    server: Server,
    path: str,
    credentials: Callable[[str, str], tuple[dict[str, str], dict[str, str]]],
) -> None:
    """SECURITY-CHECKLIST "/token": Basic and body credentials together → `invalid_request`
    [RFC 6749 §2.3: "MUST NOT use more than one authentication method"], at /revoke
    [RFC 7009 §2.1] and /introspect [RFC 7662 §2.1] too."""
    headers, body = credentials(server.client_id, server.secret)
    form = {"grant_type": "client_credentials"} if path == "/token" else {"token": "t"}
    response = server.http.post(path, data={**form, **body}, headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


BAD_CREDENTIALS: dict[str, Callable[[str], tuple[dict[str, str], dict[str, str]]]] = {
    "a wrong secret, Basic": lambda cid: (basic(cid, "wrong"), {}),
    "an unknown client, Basic": lambda _: (basic("no-such-client", "wrong"), {}),
    "a wrong secret, in the body": lambda cid: ({}, {"client_id": cid, "client_secret": "x"}),
    "an unknown client, in the body": lambda _: (
        {},
        {"client_id": "no-such-client", "client_secret": "x"},
    ),
    "a confidential client's client_id alone": lambda cid: ({}, {"client_id": cid}),
    "nothing": lambda _: ({}, {}),
}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_bad_or_unknown_credentials_are_401_invalid_client_alike_at_every_endpoint(
    server: Server,
    path: str,
    credentials: Callable[[str], tuple[dict[str, str], dict[str, str]]],
) -> None:
    """SECURITY-CHECKLIST "/token": bad or unknown credentials → 401 `invalid_client`
    (`WWW-Authenticate: Basic` if Basic used) [RFC 6749 §5.2]; and [RFC 7009 §2.1,
    RFC 7662 §2.1] both need client authentication. An unknown client's answer is the
    wrong secret's, byte for byte: nothing tells which client_ids exist."""
    http = server.http
    headers, body = credentials(server.client_id)
    form = {"grant_type": "client_credentials"} if path == "/token" else {"token": "t"}
    response = http.post(path, data={**form, **body}, headers=headers)
    assert_oauth_error(response, 401, "invalid_client")
    if "Authorization" in headers:
        assert response.headers["www-authenticate"].startswith("Basic ")
    wrong_secret = http.post(path, data=form, headers=basic(server.client_id, "wrong"))
    if body.get("client_secret") or headers:
        assert response.content == wrong_secret.content


# --- a grant the client may not use ------------------------------------------------------

GRANTS = {
    "client_credentials": {"grant_type": "client_credentials"},
    "authorization_code": {
        "grant_type": "authorization_code",
        "code": "c" * 43,
        "redirect_uri": WEB_APP_REDIRECT_URI,
        "code_verifier": "v" * 43,
    },
    "refresh_token": {"grant_type": "refresh_token", "refresh_token": "r" * 43},
}


@pytest.mark.parametrize(("grant_type", "form"), GRANTS.items(), ids=GRANTS.keys())
def test_a_grant_the_client_may_not_use_is_unauthorized_client(
    http: TestClient, database: Database, grant_type: str, form: dict[str, str]
) -> None:
    """SECURITY-CHECKLIST "/token": grant not allowed → `unauthorized_client` [RFC 6749
    §5.2; CONTRACT.md "Error codes"], whatever else the request holds."""
    others = [g for g in GRANTS if g != grant_type]
    client, secret = make_client(database, grant_types=others, redirect_uris=[WEB_APP_REDIRECT_URI])
    assert secret is not None
    response = http.post("/token", data=form, headers=basic(client.client_id, secret))
    assert_oauth_error(response, 400, "unauthorized_client")


# --- codes live 60 s ------------------------------------------------------------------


def age_codes(database: Database, seconds: int) -> None:
    """As if every code had been issued `seconds` earlier (the server compares the stored
    expiry with its clock: moving the one is moving the other)."""
    with database.transaction() as session:
        for code in session.exec(select(AuthorizationCode)).all():
            code.expires_at -= timedelta(seconds=seconds)
            session.add(code)


@pytest.mark.parametrize(("age", "answer"), [(50, 200), (62, 400)], ids=["at 50 s", "at 62 s"])
def test_a_code_is_good_for_60_seconds(
    http: TestClient, database: Database, web_app: tuple[str, str], age: int, answer: int
) -> None:
    """SECURITY-CHECKLIST "/token" and "Tests that must exist" 6: codes live 60 s; code at
    62 s → `invalid_grant` [RFC 6749 §4.1.2: a short lifetime, §5.2]."""
    client_id, secret = web_app
    pkce = Pkce()
    code = code_of(http, client_id, pkce)
    age_codes(database, age)
    response = exchange_code(http, client_id, secret, code, pkce.verifier)
    if answer == 200:
        assert response.status_code == 200, response.text
    else:
        assert_oauth_error(response, 400, "invalid_grant")


# --- a verifier without a challenge ----------------------------------------------------


def store_code(database: Database, client_id: str, challenge: str) -> str:
    """A code row as an older release, or a bug, might have left it: `challenge` may be
    empty. Stored as the server stores codes (its SHA-256)."""
    code = "c0de" + Pkce().verifier[:39]
    with database.transaction() as session:
        user = session.exec(select(User)).one()
        CodeRepository(session).add(
            AuthorizationCode(
                code_hash=hashlib.sha256(code.encode()).hexdigest(),
                client_id=client_id,
                user_id=user.id,
                redirect_uri=WEB_APP_REDIRECT_URI,
                scope="openid",
                code_challenge=challenge,
                code_challenge_method="S256" if challenge else "",
                auth_time=utcnow(),
                expires_at=utcnow() + timedelta(seconds=60),
            )
        )
    return code


@pytest.mark.parametrize(
    ("has_challenge", "sends_verifier", "answer"),
    [(True, True, 200), (False, True, "invalid_grant"), (False, False, "invalid_grant")],
    ids=[
        "a challenge and its verifier",
        "a verifier without a challenge",
        "neither challenge nor verifier",
    ],
)
def test_a_code_without_a_challenge_is_never_redeemed(
    http: TestClient,
    database: Database,
    has_challenge: bool,
    sends_verifier: bool,
    answer: int | str,
) -> None:
    """SECURITY-CHECKLIST "/token": a verifier without a challenge → `invalid_grant`
    [RFC 9700 §2.1.1, §4.8.2: PKCE downgrade]; and the Authlib default the checklist
    overrides ("PKCE ... does not require a challenge": a code without one redeemed
    without a verifier) is refused too."""
    make_user(database)
    client, secret = make_web_app(database)
    assert secret is not None
    pkce = Pkce()
    code = store_code(database, client.client_id, pkce.challenge if has_challenge else "")
    verifier = pkce.verifier if sends_verifier else None
    response = exchange_code(http, client.client_id, secret, code, verifier)
    if answer == 200:
        assert response.status_code == 200, response.text
    else:
        assert_oauth_error(response, 400, str(answer))
