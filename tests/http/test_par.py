"""Pushed authorization requests over HTTP (RFC 9126): POST /par, then /authorize with the
request_uri, through sign-in and consent to tokens; and what is refused, and how."""

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import schemathesis
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import ECKey
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update
from sqlmodel import select

from authserver.app import create_app
from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.db import Database
from authserver.factors.policy import ACR_MFA
from authserver.login.models import LoginSession
from authserver.opaque import opaque_hash
from authserver.par.models import PushedAuthorizationRequest
from authserver.par.requests import REQUEST_URI_PREFIX, push_request
from authserver.settings import Settings
from authserver.tokens.models import AuthorizationCode
from tests.conftest import ISSUER, make_settings
from tests.dpop_proofs import DPoPKey
from tests.factories import SERVICE_AUDIENCE, make_client, make_user, make_web_app
from tests.factories import WEB_APP_REDIRECT_URI as REDIRECT_URI
from tests.factors import answer_second_factor, enrol_totp, totp_code
from tests.flows import (
    Pkce,
    answer_consent,
    code_of,
    exchange_code,
    hidden_fields,
    path_after_login,
    query_of,
    sign_in,
)
from tests.http.keyholders import assertion_form, key_holder
from tests.http.tokens import (
    assert_oauth_error,
    basic,
    claims_of,
    verified_id_token,
    verify_with_jwks,
)

APPROVE_BUTTON = 'value="approve"'
OPENAPI_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def web_app(database: Database) -> tuple[Client, str]:
    make_user(database)
    client, secret = make_web_app(database)
    assert secret is not None
    return client, secret


def authorization(client_id: str, pkce: Pkce, **overrides: str | None) -> dict[str, str]:
    """A complete authorization request's parameters; None leaves one out."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "pushed-state",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {name: value for name, value in params.items() if value is not None}


def push(
    http: TestClient,
    secret: str | None,
    params: dict[str, str],
    dpop: str | None = None,
    **kwargs: Any,
) -> Response:
    """POST /par: HTTP Basic for a confidential client, client_id alone for a public one;
    `dpop`: a DPoP proof sent with it (RFC 9449 §10.1)."""
    headers = {} if secret is None else basic(params["client_id"], secret)
    if dpop is not None:
        headers["DPoP"] = dpop
    return http.post("/par", data=params, headers=headers, **kwargs)


def pushed(http: TestClient, secret: str | None, params: dict[str, str]) -> str:
    response = push(http, secret, params)
    assert response.status_code == 201, response.text
    return response.json()["request_uri"]


def authorize_path(client_id: str, request_uri: str, **extra: str) -> str:
    """RFC 9126 §4: the browser brings client_id and request_uri (and here, `extra`)."""
    return "/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri, **extra})


def through_sign_in_and_consent(http: TestClient, path: str) -> Response:
    """The browser at `path`: signs in and approves consent if asked; the last answer."""
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303 and "/login?" in response.headers["location"]:
        signed_in = sign_in(http, next_path=path_after_login(response))
        assert signed_in.status_code == 303, signed_in.text
        response = http.get(
            signed_in.headers["location"].removeprefix(ISSUER), follow_redirects=False
        )
    if response.status_code == 200 and APPROVE_BUTTON in response.text:
        response = answer_consent(http, response)
    return response


def assert_error_page(response: Response) -> None:
    """RFC 9126 §4 with RFC 6749 §4.1.2.1: nothing verified to redirect to, so a page."""
    assert response.status_code == 400, (response.status_code, response.headers)
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers


def assert_code(response: Response, state: str = "pushed-state") -> str:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = query_of(response)
    assert "code" in query, query
    # RFC 9207 §2 and RFC 6749 §4.1.2: `iss`, and the pushed `state`.
    assert query["iss"] == ISSUER and query["state"] == state
    return query["code"]


def assert_error_redirect(response: Response, error: str, state: str) -> None:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = query_of(response)
    assert query.get("error") == error and "code" not in query, query
    assert query["iss"] == ISSUER and query["state"] == state


# --- the round trip -------------------------------------------------------------------------


def test_an_authlib_client_pushes_its_request_and_gets_tokens_through_sign_in_and_consent(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §2 and §4 end to end: Authlib's client builds the authorization request,
    pushes it with the client authentication it uses at /token, sends the browser to
    /authorize with client_id and request_uri only, and redeems the code."""
    client, secret = web_app
    with OAuth2Client(
        client.client_id,
        secret,
        token_endpoint_auth_method="client_secret_basic",
        scope="openid profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        transport=http._transport,
        base_url=ISSUER,
    ) as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            f"{ISSUER}/authorize", code_verifier=verifier, nonce="pushed-nonce"
        )
        response = oauth.request(
            "POST",
            f"{ISSUER}/par",
            data=dict(parse_qsl(urlsplit(url).query)),
            auth=oauth.client_auth("client_secret_basic"),
            withhold_token=True,
        )
        # RFC 9126 §2.2: 201, a request_uri of our URN form, its lifetime; not cached.
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["request_uri"].startswith(REQUEST_URI_PREFIX)
        assert body["expires_in"] == 60
        approved = through_sign_in_and_consent(
            http, authorize_path(client.client_id, body["request_uri"])
        )
        assert assert_code(approved, state=state)
        tokens = oauth.fetch_token(
            f"{ISSUER}/token",
            authorization_response=approved.headers["location"],
            code_verifier=verifier,
        )
    assert tokens["scope"] == "openid profile"
    id_token = verified_id_token(http, tokens["id_token"], client.client_id)
    assert id_token["nonce"] == "pushed-nonce"
    audience = http.app.state.services.settings.audience  # type: ignore[attr-defined]
    access = verify_with_jwks(http, tokens["access_token"], audience)
    assert access["client_id"] == client.client_id and access["sub"] == id_token["sub"]


def test_only_the_hash_of_the_reference_is_stored_without_client_credentials(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §2.2: the reference is random (256 bits here); stored as its SHA-256, with
    the parameters but not the client_secret, which only authenticated the push (§2.1)."""
    client, secret = web_app
    params = {**authorization(client.client_id, Pkce()), "client_secret": secret}
    response = http.post("/par", data=params)  # client_secret_post
    assert response.status_code == 201, response.text
    reference = response.json()["request_uri"].removeprefix(REQUEST_URI_PREFIX)
    assert len(reference) == 43  # 32 random bytes, base64url
    with database.transaction() as db:
        rows = db.exec(select(PushedAuthorizationRequest)).all()
    assert [row.reference_hash for row in rows] == [hashlib.sha256(reference.encode()).hexdigest()]
    stored = dict(rows[0].parameters)
    assert "client_secret" not in stored and stored["state"] == "pushed-state"
    assert rows[0].client_id == client.client_id
    assert rows[0].expires_at - rows[0].created_at == timedelta(seconds=60)


def test_the_pushed_parameters_win_over_any_in_the_query(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §4: with a request_uri, the pushed request is the request. Here a browser
    already signed in and consented: a query's prompt=login, another state and scope
    would show (a login page, another state), and do not."""
    client, secret = web_app
    code_of(http, client.client_id, Pkce())
    pkce = Pkce()
    request_uri = pushed(http, secret, authorization(client.client_id, pkce, scope="openid"))
    path = authorize_path(
        client.client_id,
        request_uri,
        prompt="login",
        state="query-state",
        scope="openid profile email",
        redirect_uri="https://evil.example.test/cb",
    )
    code = assert_code(http.get(path, follow_redirects=False))
    tokens = exchange_code(http, client.client_id, secret, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid"


def test_a_public_client_pushes_with_its_client_id_alone(
    http: TestClient, database: Database
) -> None:
    """RFC 9126 §2: client authentication as at /token, where a public client only names
    itself (RFC 6749 §2.1); PKCE binds the code to it."""
    make_user(database)
    client, _ = make_web_app(database, public=True)
    pkce = Pkce()
    request_uri = pushed(http, None, authorization(client.client_id, pkce))
    code = assert_code(
        through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri))
    )
    tokens = exchange_code(http, client.client_id, None, code, pkce.verifier)
    assert tokens.status_code == 200, tokens.text
    assert claims_of(tokens.json()["access_token"])["client_id"] == client.client_id


# --- single use, expiry, binding to the client ------------------------------------------


def test_a_request_uri_is_used_once_and_the_sign_in_detour_still_finishes(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §4: one-time use. The first /authorize takes it (a reload, and a replay
    after the code, get an error page); the way back from the login page carries the
    pushed parameters on and still ends in a code."""
    client, secret = web_app
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce()))
    path = authorize_path(client.client_id, request_uri)
    to_login = http.get(path, follow_redirects=False)
    assert to_login.status_code == 303 and "/login?" in to_login.headers["location"]
    assert_error_page(http.get(path, follow_redirects=False))
    signed_in = sign_in(http, next_path=path_after_login(to_login))
    consent = http.get(signed_in.headers["location"].removeprefix(ISSUER))
    assert APPROVE_BUTTON in consent.text
    assert_code(answer_consent(http, consent))
    assert_error_page(http.get(path, follow_redirects=False))


def test_an_expired_request_uri_is_refused(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §4: "An expired request_uri MUST be rejected as invalid"."""
    client, _ = web_app
    pushed_at = utcnow() - timedelta(seconds=61)
    params = list(authorization(client.client_id, Pkce()).items())
    with database.transaction() as db:
        request_uri = push_request(db, client.client_id, params, pushed_at, timedelta(seconds=60))
    assert_error_page(http.get(authorize_path(client.client_id, request_uri)))


@pytest.mark.parametrize(
    "request_uri",
    [
        REQUEST_URI_PREFIX + "A" * 43,  # never pushed
        REQUEST_URI_PREFIX,
        REQUEST_URI_PREFIX + "short",
        # A request object by reference (OIDC Core §6.2): not supported, not fetched.
        "https://app.example.test/request.jwt",
        "urn:ietf:params:oauth:request_uri",
    ],
)
def test_a_request_uri_that_was_not_pushed_is_an_error_page(
    http: TestClient, web_app: tuple[Client, str], request_uri: str
) -> None:
    client, _ = web_app
    assert_error_page(http.get(authorize_path(client.client_id, request_uri)))


def test_another_clients_request_uri_is_refused_and_stays_the_owners(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §2.2: a request_uri is bound to the client that pushed it."""
    client, secret = web_app
    other, _ = make_web_app(database, name="Other App")
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce()))
    assert_error_page(http.get(authorize_path(other.client_id, request_uri)))
    assert_code(through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri)))


def test_a_request_uri_without_one_client_id_is_an_error_page(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    client, secret = web_app
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce()))
    assert_error_page(http.get("/authorize?" + urlencode({"request_uri": request_uri})))
    twice = [("client_id", client.client_id)] * 2 + [("request_uri", request_uri)]
    assert_error_page(http.get("/authorize?" + urlencode(twice)))


# --- PAR required -----------------------------------------------------------------------


def test_a_client_that_requires_par_is_refused_without_it_and_served_with_it(
    http: TestClient, database: Database
) -> None:
    """RFC 9126 §4 and §6 (`require_pushed_authorization_requests` of the client): a
    request not pushed is refused with invalid_request; the redirect_uri is registered,
    so the error goes back to it, with `iss` (RFC 9207)."""
    make_user(database)
    client, secret = make_web_app(database, require_par=True)
    assert secret is not None
    plain = "/authorize?" + urlencode(authorization(client.client_id, Pkce(), state="plain"))
    assert_error_redirect(http.get(plain, follow_redirects=False), "invalid_request", "plain")
    pkce = Pkce()
    request_uri = pushed(http, secret, authorization(client.client_id, pkce))
    code = assert_code(
        through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri))
    )
    assert exchange_code(http, client.client_id, secret, code, pkce.verifier).status_code == 200
    # Signed in and consented now: still refused without PAR.
    assert_error_redirect(http.get(plain, follow_redirects=False), "invalid_request", "plain")


def test_a_changed_parameter_on_the_way_back_no_longer_counts_as_pushed(
    http: TestClient, database: Database
) -> None:
    """The marker that carries "pushed" through the sign-in detour covers exactly the
    pushed parameters: the way back with another scope is a request not pushed."""
    make_user(database)
    client, secret = make_web_app(database, require_par=True)
    assert secret is not None
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce(), scope="openid"))
    to_login = http.get(authorize_path(client.client_id, request_uri), follow_redirects=False)
    way_back = path_after_login(to_login)
    assert "pushed_until=" in way_back and "scope=openid&" in way_back
    changed = way_back.replace("scope=openid&", "scope=openid+email&")
    signed_in = sign_in(http, next_path=changed)
    response = http.get(signed_in.headers["location"].removeprefix(ISSUER), follow_redirects=False)
    assert_error_redirect(response, "invalid_request", "pushed-state")


def test_the_server_wide_setting_requires_par_of_every_client(
    database: Database, keys_dir: Any, web_app: tuple[Client, str]
) -> None:
    """AUTHSERVER_REQUIRE_PAR: RFC 9126 §5 `require_pushed_authorization_requests`."""
    client, secret = web_app
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, require_par=True)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        metadata = http.get("/.well-known/openid-configuration").json()
        assert metadata["require_pushed_authorization_requests"] is True
        plain = "/authorize?" + urlencode(authorization(client.client_id, Pkce()))
        assert_error_redirect(
            http.get(plain, follow_redirects=False), "invalid_request", "pushed-state"
        )
        request_uri = pushed(http, secret, authorization(client.client_id, Pkce()))
        assert_code(
            through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri))
        )


def test_discovery_names_the_endpoint(http: TestClient) -> None:
    """RFC 9126 §5; OIDC Discovery's request_uri_parameter_supported stays about request
    objects by reference, which are not supported."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = http.get(path).json()
        assert metadata["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
        assert metadata["require_pushed_authorization_requests"] is False
        assert metadata["request_uri_parameter_supported"] is False


# --- dpop_jkt -----------------------------------------------------------------------------


def dpop_thumbprint() -> str:
    """RFC 7638: the SHA-256 thumbprint of a fresh P-256 key, base64url."""
    return ECKey.generate_key("P-256").thumbprint()


def code_row(database: Database, code: str) -> AuthorizationCode:
    with database.transaction() as db:
        row = db.get(AuthorizationCode, opaque_hash(code))
    assert row is not None
    return row


def test_a_pushed_dpop_jkt_is_bound_to_the_code(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    """RFC 9449 §10: the code carries the key thumbprint its token request must prove."""
    client, secret = web_app
    jkt = dpop_thumbprint()
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce(), dpop_jkt=jkt))
    code = assert_code(
        through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri))
    )
    assert code_row(database, code).dpop_jkt == jkt


def test_a_dpop_jkt_sent_to_authorize_is_bound_to_the_code_and_checked(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    client, _ = web_app
    jkt = dpop_thumbprint()
    assert code_row(database, code_of(http, client.client_id, Pkce(), dpop_jkt=jkt)).dpop_jkt == jkt
    assert code_row(database, code_of(http, client.client_id, Pkce())).dpop_jkt is None
    malformed = "/authorize?" + urlencode(authorization(client.client_id, Pkce(), dpop_jkt="x"))
    assert_error_redirect(
        http.get(malformed, follow_redirects=False), "invalid_request", "pushed-state"
    )


# --- refusals at /par: RFC 9126 §2.3, errors as at the token endpoint -------------------


@pytest.fixture
def service(database: Database) -> tuple[Client, str]:
    """A client_credentials client: no authorization_code grant (a redirect URI, though)."""
    client, secret = make_client(database, redirect_uris=[REDIRECT_URI])
    assert secret is not None
    return client, secret


BAD_PUSHES: dict[str, tuple[dict[str, str | None], str]] = {
    # RFC 9126 §2.3: a redirect_uri that cannot be used is invalid_request.
    "unregistered redirect_uri": (
        {"redirect_uri": "https://evil.example.test/cb"},
        "invalid_request",
    ),
    "no redirect_uri": ({"redirect_uri": None}, "invalid_request"),
    "no code_challenge": ({"code_challenge": None}, "invalid_request"),
    "plain PKCE": ({"code_challenge_method": "plain"}, "invalid_request"),
    # RFC 9126 §2.1: request_uri MUST NOT be pushed.
    "a request_uri": ({"request_uri": REQUEST_URI_PREFIX + "A" * 43}, "invalid_request"),
    "a request object": ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    "response_type token": ({"response_type": "token"}, "unsupported_response_type"),
    "a scope beyond the client's": ({"scope": "openid admin"}, "invalid_scope"),
    "a resource not the client's": ({"resource": "https://other.example.test"}, "invalid_target"),
    "an unknown prompt": ({"prompt": "sideways"}, "invalid_request"),
    "a max_age not in seconds": ({"max_age": "1h"}, "invalid_request"),
    "a malformed dpop_jkt": ({"dpop_jkt": "not-a-thumbprint"}, "invalid_request"),
    "a malformed claims": ({"claims": "{not json"}, "invalid_request"),
}


@pytest.mark.parametrize("case", list(BAD_PUSHES), ids=list(BAD_PUSHES))
def test_a_bad_push_is_a_json_error_never_a_redirect(
    http: TestClient, database: Database, web_app: tuple[Client, str], case: str
) -> None:
    client, secret = web_app
    overrides, error = BAD_PUSHES[case]
    response = push(http, secret, authorization(client.client_id, Pkce(), **overrides))
    body = assert_oauth_error(response, 400, error)
    assert "location" not in response.headers and "state" not in body
    with database.transaction() as db:
        assert db.exec(select(PushedAuthorizationRequest)).all() == []


def test_a_push_without_client_authentication_is_invalid_client(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """RFC 9126 §2: authenticated as at /token; RFC 6749 §5.2: 401 invalid_client."""
    client, secret = web_app
    params = authorization(client.client_id, Pkce())
    without = {name: value for name, value in params.items() if name != "client_id"}
    response = http.post("/par", data=without)
    assert_oauth_error(response, 401, "invalid_client")
    wrong = http.post("/par", data=params, headers=basic(client.client_id, secret + "x"))
    assert_oauth_error(wrong, 401, "invalid_client")
    # A confidential client naming itself without its secret is not authenticated.
    assert_oauth_error(http.post("/par", data=params), 401, "invalid_client")


def test_a_push_must_name_its_client_id(http: TestClient, web_app: tuple[Client, str]) -> None:
    """RFC 9126 §2.1: client_id is required in a pushed request as in any other."""
    client, secret = web_app
    params = authorization(client.client_id, Pkce())
    del params["client_id"]
    response = http.post("/par", data=params, headers=basic(client.client_id, secret))
    assert_oauth_error(response, 400, "invalid_request")


def test_a_client_without_the_code_grant_cannot_push(
    http: TestClient, service: tuple[Client, str]
) -> None:
    client, secret = service
    response = push(http, secret, authorization(client.client_id, Pkce()))
    assert_oauth_error(response, 400, "unauthorized_client")


def test_a_repeated_parameter_or_a_huge_body_is_invalid_request(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """RFC 6749 §3.1: a parameter sent twice (even `resource`, as at /authorize); the
    form reader's 16 KiB bound."""
    client, secret = web_app
    auth = basic(client.client_id, secret)
    pairs = [*authorization(client.client_id, Pkce()).items(), ("scope", "openid")]
    assert_oauth_error(
        http.post(
            "/par",
            content=urlencode(pairs),
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    resources = [
        *authorization(client.client_id, Pkce()).items(),
        ("resource", SERVICE_AUDIENCE),
        ("resource", SERVICE_AUDIENCE),
    ]
    assert_oauth_error(
        http.post(
            "/par",
            content=urlencode(resources),
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    huge = authorization(client.client_id, Pkce(), state="s" * 20_000)
    assert_oauth_error(push(http, secret, huge), 400, "invalid_request")


def test_par_answers_only_post(http: TestClient) -> None:
    """RFC 9126 §2.3: 405 for another method."""
    response = http.get("/par")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_expires_in_is_the_configured_lifetime(
    database: Database, keys_dir: Any, web_app: tuple[Client, str]
) -> None:
    """AUTHSERVER_PAR_TTL, at most 60 s (RFC 9126 §2.2 `expires_in`)."""
    client, secret = web_app
    settings: Settings = make_settings(database_url=database.url, keys_dir=keys_dir, par_ttl=5)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        response = push(http, secret, authorization(client.client_id, Pkce()))
    assert response.status_code == 201, response.text
    assert response.json()["expires_in"] == 5
    with database.transaction() as db:
        database_row = db.exec(select(PushedAuthorizationRequest)).one()
    assert database_row.expires_at - database_row.created_at == timedelta(seconds=5)


def test_par_answers_conform_to_the_openapi_description(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """201, 400 and 401 as /openapi.json describes them (the fuzz run's checks)."""
    described = schemathesis.openapi.from_dict(http.get("/openapi.json").json())
    operation = described["/par"]["POST"]
    client, secret = web_app
    params = authorization(client.client_id, Pkce())
    answers = [
        push(http, secret, params),
        push(http, secret, {**params, "request_uri": REQUEST_URI_PREFIX + "A" * 43}),
        http.post("/par", data=params),
    ]
    assert [answer.status_code for answer in answers] == [201, 400, 401]
    for answer in answers:
        operation.Case().validate_response(answer, checks=OPENAPI_CHECKS)


def test_a_pushed_request_goes_through_the_second_factor_step(
    http: TestClient, database: Database
) -> None:
    """The detour through the second-factor page (acr_values asking for it, OIDC Core
    §3.1.2.1) comes back to /authorize still counting as pushed (RFC 9126 §4)."""
    make_user(database)
    client, secret = make_web_app(database, require_par=True)
    assert secret is not None
    assert sign_in(http).status_code == 303
    totp_secret, _, _ = enrol_totp(http)
    with database.transaction() as db:
        db.execute(update(LoginSession).values(amr="pwd"))  # as if begun before TOTP
    pkce = Pkce()
    params = authorization(client.client_id, pkce, acr_values=ACR_MFA)
    path = authorize_path(client.client_id, pushed(http, secret, params))
    step_up = http.get(path, follow_redirects=False)
    assert step_up.status_code == 303, step_up.text
    assert step_up.headers["location"].startswith(ISSUER + "/login/second-factor?next=")
    proved = answer_second_factor(http, totp_code(totp_secret, 1), query_of(step_up)["next"])
    back = http.get(proved.headers["location"].removeprefix(ISSUER), follow_redirects=False)
    if back.status_code == 200:
        back = answer_consent(http, back)
    tokens = exchange_code(http, client.client_id, secret, assert_code(back), pkce.verifier)
    assert verified_id_token(http, tokens.json()["id_token"], client.client_id)["acr"] == ACR_MFA


def test_a_pushed_request_goes_through_the_account_page(
    http: TestClient, database: Database
) -> None:
    """prompt=select_account (OIDC Core §3.1.2.1): the account page's Continue comes back
    to /authorize with the pushed parameters, still counting as pushed."""
    make_user(database)
    client, secret = make_web_app(database, require_par=True)
    assert secret is not None
    assert sign_in(http).status_code == 303
    params = authorization(client.client_id, Pkce(), prompt="select_account")
    page = http.get(authorize_path(client.client_id, pushed(http, secret, params)))
    assert page.status_code == 200 and 'value="continue"' in page.text, page.text
    chosen = http.post(
        "/authorize",
        data={**dict(hidden_fields(page.text)), "account": "continue"},
        follow_redirects=False,
    )
    assert chosen.status_code == 303, chosen.text
    back = http.get(chosen.headers["location"].removeprefix(ISSUER), follow_redirects=False)
    if back.status_code == 200:
        back = answer_consent(http, back)
    assert_code(back)


def test_the_way_back_from_sign_in_counts_as_pushed_only_in_the_same_browser(
    http: TestClient, database: Database
) -> None:
    """The marker is a MAC with this browser's secret: the way back opened in another
    browser is a request not pushed (RFC 9126 §4), however it signs in."""
    make_user(database)
    client, secret = make_web_app(database, require_par=True)
    assert secret is not None
    request_uri = pushed(http, secret, authorization(client.client_id, Pkce()))
    to_login = http.get(authorize_path(client.client_id, request_uri), follow_redirects=False)
    with TestClient(http.app, base_url=ISSUER) as other:
        signed_in = sign_in(other, next_path=path_after_login(to_login))
        back = other.get(signed_in.headers["location"].removeprefix(ISSUER), follow_redirects=False)
    assert_error_redirect(back, "invalid_request", "pushed-state")


@pytest.mark.parametrize("aud", [ISSUER, f"{ISSUER}/par"])
def test_a_private_key_jwt_client_pushes_with_a_client_assertion(
    http: TestClient, database: Database, aud: str
) -> None:
    """RFC 9126 §2: the token endpoint's methods, private_key_jwt (RFC 7523) among them;
    the assertion only authenticates the push and is not kept with it (§2.1)."""
    holder = key_holder()
    client, _ = make_web_app(
        database, token_endpoint_auth_method="private_key_jwt", jwks=holder.jwks
    )
    params = assertion_form(
        holder.assertion(client.client_id, aud=aud), **authorization(client.client_id, Pkce())
    )
    response = http.post("/par", data=params)
    assert response.status_code == 201, response.text
    with database.transaction() as db:
        stored = dict(db.exec(select(PushedAuthorizationRequest)).one().parameters)
    assert "client_assertion" not in stored and "client_assertion_type" not in stored


def test_a_request_object_at_authorize_is_request_not_supported(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    """OIDC Core §6.1 and §3.1.2.6: request objects are not supported (discovery says
    request_parameter_supported false), so one is refused rather than ignored; the same
    check as at /par."""
    client, _ = web_app
    params = authorization(client.client_id, Pkce(), request="eyJhbGciOiJub25lIn0.e30.")
    response = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert_error_redirect(response, "request_not_supported", "pushed-state")


# --- a DPoP proof sent with the push: RFC 9449 §10.1 ----------------------------------------


def test_a_dpop_proof_at_par_binds_the_code_to_its_key(
    http: TestClient, database: Database, web_app: tuple[Client, str]
) -> None:
    """RFC 9449 §10.1: the proof's key binds the code as `dpop_jkt` would; the token
    request must then prove the same key."""
    client, secret = web_app
    key, pkce = DPoPKey.generate(), Pkce()
    request_uri = pushed_with(http, secret, authorization(client.client_id, pkce), key)
    code = assert_code(
        through_sign_in_and_consent(http, authorize_path(client.client_id, request_uri))
    )
    assert code_row(database, code).dpop_jkt == key.jkt
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": pkce.verifier,
    }  # fmt: skip
    credentials = basic(client.client_id, secret)
    other = DPoPKey.generate().proof("POST", ISSUER + "/token")
    refused = http.post("/token", data=form, headers={**credentials, "DPoP": other})
    assert_oauth_error(refused, 400, "invalid_grant")
    right = key.proof("POST", ISSUER + "/token")
    tokens = http.post("/token", data=form, headers={**credentials, "DPoP": right})
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "DPoP"
    assert claims_of(tokens.json()["access_token"])["cnf"] == {"jkt": key.jkt}


def test_a_dpop_proof_and_another_dpop_jkt_at_par_are_refused(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    client, secret = web_app
    key = DPoPKey.generate()
    params = authorization(client.client_id, Pkce(), dpop_jkt=dpop_thumbprint())
    response = push(http, secret, params, dpop=key.proof("POST", ISSUER + "/par"))
    assert_oauth_error(response, 400, "invalid_request")
    # The proof's own key named as dpop_jkt is the same binding, and accepted.
    same = authorization(client.client_id, Pkce(), dpop_jkt=key.jkt)
    assert push(http, secret, same, dpop=key.proof("POST", ISSUER + "/par")).status_code == 201


def test_a_bad_or_replayed_dpop_proof_at_par_is_invalid_dpop_proof(
    http: TestClient, web_app: tuple[Client, str]
) -> None:
    client, secret = web_app
    key = DPoPKey.generate()
    params = authorization(client.client_id, Pkce())
    wrong_url = key.proof("POST", ISSUER + "/token")
    assert_oauth_error(push(http, secret, params, dpop=wrong_url), 400, "invalid_dpop_proof")
    proof = key.proof("POST", ISSUER + "/par")
    assert push(http, secret, params, dpop=proof).status_code == 201
    assert_oauth_error(push(http, secret, params, dpop=proof), 400, "invalid_dpop_proof")


def pushed_with(http: TestClient, secret: str, params: dict[str, str], key: DPoPKey) -> str:
    response = push(http, secret, params, dpop=key.proof("POST", ISSUER + "/par"))
    assert response.status_code == 201, response.text
    return response.json()["request_uri"]
