"""The authorization endpoint over HTTP (RFC 6749 §4.1, RFC 7636, RFC 9207, OIDC Core §3.1.2)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update
from sqlmodel import select

from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.models import LoginSession
from tests.conftest import ISSUER
from tests.factories import WEB_APP_REDIRECT_URI as REDIRECT_URI
from tests.factories import make_client, make_user, make_web_app
from tests.flows import (
    Pkce,
    answer_consent,
    authorize,
    code_of,
    csrf_token_of,
    exchange_code,
    hidden_fields,
    path_after_login,
    query_of,
    redirect_status,
    sign_in,
)
from tests.http.pages import assert_page_headers, script_sources

LOOPBACK_REDIRECT_URI = "http://127.0.0.1:9999/cb"
APPROVE_BUTTON = '<button type="submit" name="decision" value="approve"'


@pytest.fixture
def web_app(database: Database) -> tuple[Client, str | None]:
    make_user(database)
    return make_web_app(database)


@pytest.fixture
def client_id(web_app: tuple[Client, str | None]) -> str:
    return web_app[0].client_id


@pytest.fixture
def returning(http: TestClient, client_id: str) -> TestClient:
    """A browser signed in as alice that already approved `openid profile` for the web app.

    Without the check under test, such a browser would get a code at once; so a refusal
    proves the check, not a missing session or consent.
    """
    code_of(http, client_id, Pkce())
    return http


def pairs_of(client_id: str, **overrides: str | None) -> list[tuple[str, str]]:
    """A valid request's parameters; an override of None leaves the parameter out."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "state-123",
        "code_challenge": Pkce().challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return [(name, value) for name, value in params.items() if value is not None]


def path_of(pairs: list[tuple[str, str]]) -> str:
    return "/authorize?" + urlencode(pairs)


def assert_error_page(response: Response) -> None:
    """RFC 6749 §4.1.2.1: the client or redirect_uri is not verified, so no redirect."""
    assert response.status_code == 400, (response.status_code, response.headers)
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "code=" not in response.text


def assert_error_redirect(response: Response, error: str, state: str = "state-123") -> None:
    """RFC 6749 §4.1.2.1 and RFC 9207 §2: `error`, `state` and `iss` at the redirect_uri."""
    expected = redirect_status(response)
    assert response.status_code == expected, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = query_of(response)
    assert query.get("error") == error, query
    assert query.get("state") == state
    assert query.get("iss") == ISSUER
    assert "code" not in query
    assert response.headers["cache-control"] == "no-store"


def assert_code_redirect(response: Response, redirect_uri: str = REDIRECT_URI) -> str:
    expected = redirect_status(response)
    assert response.status_code == expected, response.headers.get("location")
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = query_of(response)
    assert "code" in query and "error" not in query, query
    return query["code"]


def assert_consent_page(response: Response) -> None:
    assert response.status_code == 200, (response.status_code, response.headers)
    assert APPROVE_BUTTON in response.text


def make_sessions_older(database: Database, age: timedelta) -> None:
    with database.transaction() as db:
        db.execute(update(LoginSession).values(auth_time=utcnow() - age))


# --- the happy path ------------------------------------------------------------------


def test_sign_in_and_consent_redirect_with_the_code_the_state_and_the_issuer(
    http: TestClient, web_app: tuple[Client, str | None]
) -> None:
    client, secret = web_app
    pkce = Pkce()
    response = authorize(http, client.client_id, pkce, state="a-state/with+odd=chars")
    code = assert_code_redirect(response)
    query = query_of(response)
    # RFC 6749 §4.1.2: `state` exactly as sent; RFC 9207 §2: `iss` is our issuer.
    assert query["state"] == "a-state/with+odd=chars"
    assert query["iss"] == ISSUER
    # The code is a credential (RFC 6749 §10.5): no cache may keep the response.
    assert response.headers["cache-control"] == "no-store"
    tokens = exchange_code(http, client.client_id, secret, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text


# --- redirect_uri and client_id: an error page, never a redirect ---------------------

REFUSED_REDIRECT_URIS = {
    "trailing-slash": "https://app.example.test/callback/",
    "added-query": "https://app.example.test/callback?next=x",
    "fragment": "https://app.example.test/callback#x",
    "empty-fragment": "https://app.example.test/callback#",
    "upper-case-host": "https://APP.example.test/callback",
    "upper-case-scheme": "HTTPS://app.example.test/callback",
    "upper-case-path": "https://app.example.test/Callback",
    "prefix": "https://app.example.test/call",
    "suffix": "https://app.example.test/callback/x",
    "suffix-without-slash": "https://app.example.test/callbackx",
    "userinfo": "https://app.example.test@evil.test/callback",
    "userinfo-of-the-host": "https://evil.test@app.example.test/callback",
    "multiple-at": "https://app.example.test@evil.test@app.example.test/callback",
    "at-in-path": "https://evil.test/@app.example.test/callback",
    "dot-dot-semicolon": "https://app.example.test/callback/..;/evil",
    "dot-segments": "https://app.example.test/x/../callback",
    "semicolon": "https://app.example.test/callback;evil",
    "percent-encoded-path": "https://app.example.test/%63allback",
    "percent-encoded-host": "https://app%2Eexample.test/callback",
    "explicit-port-443": "https://app.example.test:443/callback",
    "other-port": "https://app.example.test:8443/callback",
    "http": "http://app.example.test/callback",
    "javascript": "javascript:alert(document.domain)//https://app.example.test/callback",
    "javascript-upper-case": "JavaScript://app.example.test/callback%0aalert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "host-suffix": "https://app.example.test.evil.test/callback",
    "localhost-evil": "https://localhost.evil.test/callback",
    "homograph": "https://\u0430pp.example.test/callback",
    "punycode-homograph": "https://xn--pp-8cd.example.test/callback",
    "cr-lf": "https://app.example.test/callback\r\nSet-Cookie: x=1",
    "percent-cr-lf": "https://app.example.test/callback%0d%0a",
    "backslash": "https://app.example.test\\@evil.test/callback",
    "leading-space": " https://app.example.test/callback",
    "trailing-space": "https://app.example.test/callback ",
    "empty": "",
}


@pytest.mark.parametrize(
    "redirect_uri", REFUSED_REDIRECT_URIS.values(), ids=REFUSED_REDIRECT_URIS.keys()
)
def test_a_redirect_uri_other_than_the_registered_string_gets_an_error_page(
    returning: TestClient, client_id: str, redirect_uri: str
) -> None:
    """SECURITY-CHECKLIST "A redirect matrix"; RFC 9700 §2.1, §4.1.3: byte-for-byte match."""
    response = returning.get(
        path_of(pairs_of(client_id, redirect_uri=redirect_uri)), follow_redirects=False
    )
    assert_error_page(response)


def test_a_duplicated_redirect_uri_gets_an_error_page(
    returning: TestClient, client_id: str
) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be repeated; the redirect_uri is then unverified.
    pairs = [*pairs_of(client_id), ("redirect_uri", REDIRECT_URI)]
    assert_error_page(returning.get(path_of(pairs), follow_redirects=False))


def test_a_duplicated_redirect_uri_pointing_elsewhere_gets_an_error_page(
    returning: TestClient, client_id: str
) -> None:
    pairs = [*pairs_of(client_id), ("redirect_uri", "https://evil.test/callback")]
    assert_error_page(returning.get(path_of(pairs), follow_redirects=False))


def test_a_missing_redirect_uri_gets_an_error_page(returning: TestClient, client_id: str) -> None:
    # OIDC Core §3.1.2.1: redirect_uri is REQUIRED; SECURITY-CHECKLIST: missing -> page.
    path = path_of(pairs_of(client_id, redirect_uri=None))
    assert_error_page(returning.get(path, follow_redirects=False))


@pytest.mark.parametrize(
    "client_ids",
    [["no-such-client"], [], ["{own}", "{own}"], ["{own}", "no-such-client"], [""]],
    ids=["unknown", "missing", "duplicated", "duplicated-with-another", "empty"],
)
def test_an_unknown_missing_or_duplicated_client_id_gets_an_error_page(
    returning: TestClient, client_id: str, client_ids: list[str]
) -> None:
    """RFC 6749 §4.1.2.1: an invalid client_id MUST NOT redirect; SECURITY-CHECKLIST."""
    pairs = [(n, v) for n, v in pairs_of(client_id) if n != "client_id"]
    pairs += [("client_id", value.format(own=client_id)) for value in client_ids]
    assert_error_page(returning.get(path_of(pairs), follow_redirects=False))


@pytest.fixture
def loopback_client_id(database: Database) -> str:
    make_user(database)
    client, _ = make_web_app(database, redirect_uris=[LOOPBACK_REDIRECT_URI])
    return client.client_id


def test_a_loopback_client_gets_a_code_at_its_registered_uri(
    http: TestClient, loopback_client_id: str
) -> None:
    response = authorize(http, loopback_client_id, Pkce(), redirect_uri=LOOPBACK_REDIRECT_URI)
    assert_code_redirect(response, LOOPBACK_REDIRECT_URI)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9999/cb2",
        "http://127.0.0.1:9999/",
        "http://127.0.0.1:9999/cb?x=1",
        "http://localhost:9999/cb",
        "http://[::1]:9999/cb",
        "https://127.0.0.1:9999/cb",
    ],
    ids=[
        "other-path",
        "root-path",
        "added-query",
        "localhost",
        "ipv6",
        "https",
    ],
)
def test_a_loopback_redirect_uri_differs_only_in_its_port(
    http: TestClient, loopback_client_id: str, redirect_uri: str
) -> None:
    """SECURITY-CHECKLIST redirect matrix: loopback port/path/query. RFC 8252 §7.3 lets a
    loopback IP URI name any port (tests/http/test_redirect_matrix.py); path, query, host
    and scheme must match exactly (RFC 9700 §2.1)."""
    code_of(http, loopback_client_id, Pkce(), redirect_uri=LOOPBACK_REDIRECT_URI)
    path = path_of(pairs_of(loopback_client_id, redirect_uri=redirect_uri))
    assert_error_page(http.get(path, follow_redirects=False))


# --- PKCE ----------------------------------------------------------------------------

PKCE_VIOLATIONS = {
    "no-challenge-no-method": {"code_challenge": None, "code_challenge_method": None},
    "no-challenge": {"code_challenge": None},
    "plain": {"code_challenge": Pkce().verifier, "code_challenge_method": "plain"},
    "plain-with-an-s256-looking-challenge": {"code_challenge_method": "plain"},
    "no-method": {"code_challenge_method": None},
    "unknown-method": {"code_challenge_method": "S512"},
    "lower-case-method": {"code_challenge_method": "s256"},
    "too-short": {"code_challenge": "abc"},
    "too-long": {"code_challenge": "A" * 128},
    "not-base64url": {"code_challenge": "!" * 43},
    "padded": {"code_challenge": "A" * 42 + "="},
}


@pytest.mark.parametrize("overrides", PKCE_VIOLATIONS.values(), ids=PKCE_VIOLATIONS.keys())
def test_pkce_other_than_a_well_formed_s256_challenge_is_invalid_request(
    returning: TestClient, client_id: str, overrides: dict[str, str | None]
) -> None:
    """RFC 7636 §4.3 and §4.4.1, RFC 9700 §2.1.1, SECURITY-CHECKLIST: S256 for everyone;
    without a method the server would assume plain, which is refused too."""
    path = path_of(pairs_of(client_id, **overrides))
    assert_error_redirect(returning.get(path, follow_redirects=False), "invalid_request")


def test_a_repeated_code_challenge_is_invalid_request(
    returning: TestClient, client_id: str
) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be included more than once.
    pairs = [*pairs_of(client_id), ("code_challenge", Pkce().challenge)]
    assert_error_redirect(returning.get(path_of(pairs), follow_redirects=False), "invalid_request")


# --- other errors go back to the client ----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"scope": "orders:write"}, "invalid_scope"),
        ({"prompt": "sometimes"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
    ids=[
        "token",
        "hybrid",
        "id_token",
        "scope-not-registered",
        "scope-of-another-client",
        "unknown-prompt",
        "prompt-none-with-another",
    ],
)
def test_an_invalid_request_with_a_verified_redirect_uri_redirects_the_error(
    returning: TestClient, client_id: str, overrides: dict[str, str], error: str
) -> None:
    """RFC 6749 §4.1.2.1: once client and redirect_uri are verified, errors are redirected
    with `state`; RFC 9207 §2 adds `iss`; OIDC Core §3.1.2.1 for prompt."""
    path = path_of(pairs_of(client_id, **overrides))
    assert_error_redirect(returning.get(path, follow_redirects=False), error)


def test_a_repeated_parameter_is_invalid_request(returning: TestClient, client_id: str) -> None:
    # RFC 6749 §3.1: request and response parameters MUST NOT be included more than once.
    pairs = [*pairs_of(client_id), ("scope", "openid")]
    assert_error_redirect(returning.get(path_of(pairs), follow_redirects=False), "invalid_request")


def outcome_of(response: Response) -> tuple[int, str | None, bool]:
    """Status, `error` and whether a code came back: what a client can tell apart."""
    if response.status_code != 302:
        return response.status_code, None, False
    query = query_of(response)
    return response.status_code, query.get("error"), "code" in query


@pytest.mark.parametrize("name", ["scope", "max_age", "prompt", "nonce", "state"])
def test_a_parameter_without_a_value_counts_as_omitted(
    returning: TestClient, client_id: str, name: str
) -> None:
    # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
    # omitted from the request." (As /token does, tests/http/test_token_hostile_input.py.)
    empty = returning.get(path_of(pairs_of(client_id, **{name: ""})), follow_redirects=False)
    omitted = returning.get(path_of(pairs_of(client_id, **{name: None})), follow_redirects=False)
    assert outcome_of(empty) == outcome_of(omitted)


def test_a_client_without_the_code_grant_is_unauthorized_client(
    returning: TestClient, database: Database
) -> None:
    """RFC 6749 §4.1.2.1: `unauthorized_client`; CONTRACT.md "Error codes".

    Registration accepts a redirect URI on a client_credentials-only client, so the
    redirect_uri is verified and the error goes back to it.
    """
    service, _ = make_client(
        database, redirect_uris=[REDIRECT_URI], scope="openid profile orders:read"
    )
    path = path_of(pairs_of(service.client_id))
    assert_error_redirect(returning.get(path, follow_redirects=False), "unauthorized_client")


# --- prompt and max_age (OIDC Core §3.1.2.1) -----------------------------------------


def test_prompt_none_without_a_session_is_login_required(http: TestClient, client_id: str) -> None:
    # OIDC Core §3.1.2.6: login_required, at the redirect_uri; no login page is shown.
    path = path_of(pairs_of(client_id, prompt="none"))
    assert_error_redirect(http.get(path, follow_redirects=False), "login_required")


def test_prompt_none_with_a_session_but_no_consent_is_consent_required(
    http: TestClient, client_id: str
) -> None:
    # OIDC Core §3.1.2.6: consent_required when consent would have to be shown.
    assert sign_in(http).status_code == 303
    path = path_of(pairs_of(client_id, prompt="none"))
    assert_error_redirect(http.get(path, follow_redirects=False), "consent_required")


def test_prompt_none_with_a_session_and_consent_gets_a_code(
    returning: TestClient, client_id: str
) -> None:
    # OIDC Core §3.1.2.1: prompt=none answers silently when nothing needs to be shown.
    path = path_of(pairs_of(client_id, prompt="none"))
    assert_code_redirect(returning.get(path, follow_redirects=False))


def test_prompt_login_with_a_session_shows_the_login_form_and_then_continues(
    returning: TestClient, client_id: str
) -> None:
    """OIDC Core §3.1.2.1: prompt=login re-authenticates even with a session; the request
    then goes on, without asking again (no loop)."""
    response = returning.get(path_of(pairs_of(client_id, prompt="login")), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(ISSUER + "/login?")
    next_path = path_after_login(response)
    # Every parameter goes back, with the marker of the sign-in asked for.
    assert parse_qs(urlsplit(next_path).query)["prompt"] == ["login"]
    assert "sign_in_after" in parse_qs(urlsplit(next_path).query)
    signed_in = sign_in(returning, next_path=next_path)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == ISSUER + next_path
    again = returning.get(next_path, follow_redirects=False)
    assert_code_redirect(again)


FORCING = {"prompt=login": {"prompt": "login"}, "max_age=60": {"max_age": "60"}}


@pytest.mark.parametrize("forcing", FORCING.values(), ids=FORCING.keys())
def test_the_way_back_from_the_login_page_never_answers_on_the_old_session(
    returning: TestClient, client_id: str, database: Database, forcing: dict[str, str]
) -> None:
    """OIDC Core §3.1.2.1 (prompt=login, max_age): opening the login page's `next`
    directly, without signing in, must not give a code on the session that was there."""
    make_sessions_older(database, timedelta(hours=1))
    response = returning.get(path_of(pairs_of(client_id, **forcing)), follow_redirects=False)
    next_path = path_after_login(response)

    direct = returning.get(next_path, follow_redirects=False)
    assert direct.status_code == 303
    assert direct.headers["location"].startswith(ISSUER + "/login?")
    # Once the user has signed in, the same way back answers, with the new auth_time.
    before = int(utcnow().timestamp())
    assert sign_in(returning, next_path=next_path).status_code == 303
    assert_code_redirect(returning.get(next_path, follow_redirects=False))
    with database.transaction() as db:
        newest = max(db.exec(select(LoginSession.auth_time)).all())
    assert newest.timestamp() >= before


def tampered(next_path: str, moment: str) -> str:
    query = [
        (name, f"{moment}.{value.partition('.')[2]}" if name == "sign_in_after" else value)
        for name, value in parse_qs(urlsplit(next_path).query, keep_blank_values=True).items()
        for value in value
    ]
    return "/authorize?" + urlencode(query)


def test_a_tampered_or_borrowed_marker_is_no_sign_in(
    app: FastAPI, returning: TestClient, client_id: str, database: Database
) -> None:
    """The marker is MACed with this browser's secret over the other parameters: an
    earlier moment, other parameters, or another browser's marker ask to sign in again."""
    make_sessions_older(database, timedelta(hours=1))
    response = returning.get(path_of(pairs_of(client_id, prompt="login")), follow_redirects=False)
    next_path = path_after_login(response)
    earlier = tampered(next_path, "0")
    other_state = next_path.replace("state=state-123", "state=state-456")
    for path in (earlier, other_state):
        answer = returning.get(path, follow_redirects=False)
        assert answer.headers["location"].startswith(ISSUER + "/login?"), path
    # Another browser signed in as alice after the marker was made cannot use it.
    with TestClient(app, base_url=ISSUER) as other:
        assert sign_in(other).status_code == 303
        answer = other.get(next_path, follow_redirects=False)
        assert answer.headers["location"].startswith(ISSUER + "/login?")


def test_an_authorization_request_may_be_a_post(returning: TestClient, client_id: str) -> None:
    # OIDC Core §3.1.2.1: the authorization endpoint supports GET and POST (form-encoded).
    response = returning.post("/authorize", data=dict(pairs_of(client_id)), follow_redirects=False)
    assert_code_redirect(response)
    forced = returning.post(
        "/authorize", data=dict(pairs_of(client_id, prompt="login")), follow_redirects=False
    )
    assert forced.status_code == 303
    assert forced.headers["location"].startswith(ISSUER + "/login?")


@pytest.mark.parametrize("max_age", ["0", "60"])
def test_max_age_older_than_the_session_asks_to_sign_in_and_then_continues(
    returning: TestClient, client_id: str, database: Database, max_age: str
) -> None:
    """OIDC Core §3.1.2.1: past max_age the OP MUST re-authenticate ("max_age=0 is
    equivalent to prompt=login"); once the user has, the request goes on (no loop)."""
    make_sessions_older(database, timedelta(hours=1))
    path = path_of(pairs_of(client_id, max_age=max_age))
    response = returning.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(ISSUER + "/login?")
    next_path = path_after_login(response)
    assert sign_in(returning, next_path=next_path).status_code == 303
    again = returning.get(next_path, follow_redirects=False)
    assert_code_redirect(again)


def test_max_age_within_the_session_age_needs_no_sign_in(
    returning: TestClient, client_id: str
) -> None:
    path = path_of(pairs_of(client_id, max_age="3600"))
    assert_code_redirect(returning.get(path, follow_redirects=False))


@pytest.mark.parametrize("signed_in", [True, False], ids=["with-session", "without-session"])
@pytest.mark.parametrize("max_age", ["abc", "-1", "1.5"])
def test_an_invalid_max_age_is_invalid_request(
    http: TestClient, client_id: str, signed_in: bool, max_age: str
) -> None:
    """OIDC Core §3.1.2.1: max_age is a non-negative integer; §3.1.2.2: the request is
    validated before the user is asked to authenticate (§3.1.2.3)."""
    if signed_in:
        code_of(http, client_id, Pkce())
    path = path_of(pairs_of(client_id, max_age=max_age))
    assert_error_redirect(http.get(path, follow_redirects=False), "invalid_request")


# --- single sign-on ------------------------------------------------------------------


def test_a_second_client_in_the_same_browser_needs_no_second_sign_in(
    returning: TestClient, database: Database
) -> None:
    # OIDC Core §3.1.2.3: an authenticated session may be reused; only consent is asked.
    other, _ = make_web_app(database, name="Other App")
    response = returning.get(path_of(pairs_of(other.client_id)), follow_redirects=False)
    assert_consent_page(response)
    assert "Other App" in response.text
    assert_code_redirect(answer_consent(returning, response))


def test_a_skip_consent_client_gets_a_code_without_a_consent_page(
    returning: TestClient, database: Database
) -> None:
    # CONTRACT.md `--skip-consent`: a first-party app is not asked about.
    first_party, _ = make_web_app(database, skip_consent=True)
    response = returning.get(path_of(pairs_of(first_party.client_id)), follow_redirects=False)
    assert_code_redirect(response)


# --- consent -------------------------------------------------------------------------


def consent_page(http: TestClient, client_id: str, **overrides: str) -> Response:
    """The consent page for alice, signing her in first if needed."""
    path = path_of(pairs_of(client_id, **overrides))
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303:
        assert sign_in(http, next_path=path_after_login(response)).status_code == 303
        response = http.get(path, follow_redirects=False)
    assert_consent_page(response)
    return response


def post_consent(http: TestClient, fields: dict[str, str]) -> Response:
    return http.post("/authorize", data=fields, follow_redirects=False)


def test_the_consent_page_names_the_client_and_the_scopes(http: TestClient, client_id: str) -> None:
    page = consent_page(http, client_id, scope="openid profile email orders:read")
    assert "Web App" in page.text
    for scope in ("openid", "profile", "email", "orders:read"):
        assert f'<span class="scope-name">{scope}</span>' in page.text
    # CONTRACT.md: the approving button of the consent form.
    assert page.text.count(APPROVE_BUTTON) == 1
    assert '<form method="post"' in page.text


def test_denying_consent_redirects_access_denied_with_state_and_issuer(
    http: TestClient, client_id: str
) -> None:
    # RFC 6749 §4.1.2.1: the resource owner denied the request; RFC 9207 §2: `iss`.
    page = consent_page(http, client_id)
    assert_error_redirect(answer_consent(http, page, "deny"), "access_denied")
    # A denial is not remembered as an approval.
    assert_consent_page(http.get(path_of(pairs_of(client_id)), follow_redirects=False))


def test_an_approved_consent_is_remembered_for_the_same_scopes(
    returning: TestClient, client_id: str
) -> None:
    response = returning.get(path_of(pairs_of(client_id)), follow_redirects=False)
    assert_code_redirect(response)
    narrower = returning.get(path_of(pairs_of(client_id, scope="openid")), follow_redirects=False)
    assert_code_redirect(narrower)


def test_a_larger_scope_asks_for_consent_again(returning: TestClient, client_id: str) -> None:
    path = path_of(pairs_of(client_id, scope="openid profile email"))
    page = returning.get(path, follow_redirects=False)
    assert_consent_page(page)
    assert '<span class="scope-name">email</span>' in page.text


def test_a_consent_post_without_a_csrf_token_is_refused(http: TestClient, client_id: str) -> None:
    # SECURITY-CHECKLIST / RFC 9700 §4.7: consent needs a CSRF token bound to the request.
    page = consent_page(http, client_id)
    fields = {n: v for n, v in hidden_fields(page.text) if n != "csrf_token"}
    response = post_consent(http, {**fields, "decision": "approve"})
    assert_error_page(response)
    assert_consent_page(http.get(path_of(pairs_of(client_id)), follow_redirects=False))


@pytest.mark.parametrize("token", ["", "not-a-token", "A" * 43])
def test_a_consent_post_with_a_wrong_csrf_token_is_refused(
    http: TestClient, client_id: str, token: str
) -> None:
    page = consent_page(http, client_id)
    fields = {n: v for n, v in hidden_fields(page.text) if n != "csrf_token"}
    response = post_consent(http, {**fields, "csrf_token": token, "decision": "approve"})
    assert_error_page(response)


@pytest.mark.parametrize(
    "other", [{"state": "second"}, {"scope": "openid profile email"}], ids=["state", "scope"]
)
def test_a_csrf_token_of_another_authorization_request_is_refused(
    http: TestClient, client_id: str, other: dict[str, str]
) -> None:
    """SECURITY-CHECKLIST: the token is bound to the browser *and the request*; a token
    from one consent form does not approve another request (another `state`, or a
    larger scope than the page showed)."""
    first = consent_page(http, client_id)
    second = consent_page(http, client_id, **other)
    fields = {n: v for n, v in hidden_fields(second.text) if n != "csrf_token"}
    forged = {**fields, "csrf_token": csrf_token_of(first.text), "decision": "approve"}
    assert_error_page(post_consent(http, forged))


def test_a_consent_form_posted_from_another_browser_is_refused(
    http: TestClient, client_id: str, app: FastAPI
) -> None:
    """RFC 9700 §4.7: the CSRF token is bound to the browser's own cookie secret, so a
    page elsewhere that knew the session (but not the CSRF cookie) still cannot consent."""
    page = consent_page(http, client_id)
    session_cookie = http.cookies["authserver_session"]
    other = TestClient(app, base_url=ISSUER, cookies={"authserver_session": session_cookie})
    response = post_consent(other, {**dict(hidden_fields(page.text)), "decision": "approve"})
    assert_error_page(response)


def test_consent_cannot_be_given_by_get(http: TestClient, client_id: str) -> None:
    """SECURITY-CHECKLIST: consent by POST only. A GET carrying a decision and a valid
    token (a link or an <img> on another site) shows the consent page again, no code."""
    page = consent_page(http, client_id)
    path = path_of([*hidden_fields(page.text), ("decision", "approve")])
    response = http.get(path, follow_redirects=False)
    assert_consent_page(response)
    assert_consent_page(http.get(path_of(pairs_of(client_id)), follow_redirects=False))


def test_a_consent_post_without_a_session_does_not_issue_a_code(
    http: TestClient, client_id: str
) -> None:
    # The decision needs the signed-in user; without one, the user signs in first.
    page = consent_page(http, client_id)
    http.cookies.delete("authserver_session")
    response = post_consent(http, {**dict(hidden_fields(page.text)), "decision": "approve"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(ISSUER + "/login?")


# --- headers of the HTML pages -------------------------------------------------------


@pytest.mark.parametrize("page", ["consent", "error"])
def test_the_consent_and_error_pages_carry_the_security_headers(
    http: TestClient, client_id: str, page: str
) -> None:
    if page == "consent":
        response = consent_page(http, client_id)
    else:
        response = http.get(path_of(pairs_of("no-such-client")), follow_redirects=False)
        assert_error_page(response)
    assert response.headers["content-type"].startswith("text/html")
    assert_page_headers(response)
    assert "'unsafe-eval'" not in script_sources(response)
