"""POST /register: Dynamic Client Registration (RFC 7591 §3), in each
AUTHSERVER_REGISTRATION mode, and the clients it makes at work at /authorize and /token."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import ECKey
from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import SERVICE_AUDIENCE, WEB_APP_REDIRECT_URI
from tests.flows import answer_consent, grant_for, path_after_login, query_of, sign_in
from tests.http.registration import (
    WEB_APP_METADATA,
    app_with,
    bearer,
    initial_access_token,
    register,
)
from tests.http.tokens import assert_oauth_error, basic, claims_of

SERVICE_METADATA = {
    "client_name": "Reports job",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_post",
    "scope": "openid",
}


@pytest.fixture
def token(database: Database) -> str:
    """An initial access token good for one registration."""
    return initial_access_token(database)


@pytest.fixture
def open_http(database: Database, keys_dir: Path) -> Any:
    with app_with(database, keys_dir, registration="open") as http:
        yield http


def registered(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def test_a_registration_answers_201_with_every_registered_value(
    http: TestClient, token: str
) -> None:
    """RFC 7591 §3.2.1, with RFC 7592 §3's registration_access_token and client URI."""
    before = int(utcnow().timestamp())
    response = register(http, token, WEB_APP_METADATA)
    body = registered(response)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    for field, value in WEB_APP_METADATA.items():
        assert body[field] == value, field
    assert len(body["client_secret"]) >= 43  # 256 bits, base64url
    assert body["client_secret_expires_at"] == 0
    assert before <= body["client_id_issued_at"] <= before + 5
    assert body["registration_client_uri"] == f"{ISSUER}/register/{body['client_id']}"
    assert len(body["registration_access_token"]) >= 43


def test_omitted_fields_get_their_defaults_and_the_answer_says_which(
    http: TestClient, token: str
) -> None:
    """RFC 7591 §2: authorization_code, code and client_secret_basic when omitted; the
    server's own choices (scope, name) are returned too (§3.2.1)."""
    body = registered(register(http, token, {"redirect_uris": [WEB_APP_REDIRECT_URI]}))
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["scope"] == "openid profile email"
    assert body["client_name"] == "Unnamed client"
    assert "client_secret" in body


def test_unknown_fields_and_a_software_statement_are_ignored(http: TestClient, token: str) -> None:
    """RFC 7591 §2: unknown metadata is ignored; §3.1.1: a server without software
    statement support may ignore one; language-tagged names (§2.2) are not kept."""
    metadata = {
        **WEB_APP_METADATA,
        "software_statement": "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
        "client_name#ja-Jpan-JP": "ノート",
        "frobnicate": [1, {"a": None}],
        "client_id": "chosen-by-the-client",
        "client_secret": "chosen-by-the-client",
    }
    body = registered(register(http, token, metadata))
    assert not {"software_statement", "client_name#ja-Jpan-JP", "frobnicate"} & set(body)
    assert body["client_id"] != "chosen-by-the-client"
    assert body["client_secret"] != "chosen-by-the-client"


def test_null_fields_count_as_absent(http: TestClient, token: str) -> None:
    """RFC 7592 §2.2: an omitted field is null; a server may ignore null values."""
    metadata = {**WEB_APP_METADATA, "client_uri": None, "contacts": None, "jwks": None}
    body = registered(register(http, token, metadata))
    assert "client_uri" not in body and "contacts" not in body and "jwks" not in body


def test_a_client_registered_like_an_authlib_app_signs_a_user_in_with_pkce(
    http: TestClient, user: User, token: str
) -> None:
    """Registered with what an OpenID Connect web app sends, then the whole code flow with
    Authlib's own client (PKCE S256, client_secret_basic), a refresh included."""
    body = registered(register(http, token, WEB_APP_METADATA))
    # Authlib's client over the app's in-process transport: its requests reach the app.
    with OAuth2Client(
        body["client_id"],
        body["client_secret"],
        token_endpoint_auth_method=body["token_endpoint_auth_method"],
        scope="openid profile",
        redirect_uri=body["redirect_uris"][0],
        code_challenge_method="S256",
        transport=http._transport,
        base_url=ISSUER,
    ) as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier)
        redirect = browser_approves(http, url.removeprefix(ISSUER))
        tokens = oauth.fetch_token(
            f"{ISSUER}/token", authorization_response=redirect, code_verifier=verifier
        )
        refreshed = oauth.refresh_token(f"{ISSUER}/token", refresh_token=tokens["refresh_token"])
    assert query_of_url(redirect)["state"] == state
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile"
    assert claims_of(tokens["id_token"])["aud"] == body["client_id"]
    assert claims_of(tokens["access_token"])["client_id"] == body["client_id"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]


def browser_approves(http: TestClient, path: str) -> str:
    """The browser at `path`: signs in, approves the consent page; the redirect back."""
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303:
        signed_in = sign_in(http, next_path=path_after_login(response))
        response = http.get(signed_in.headers["location"].removeprefix(ISSUER))
    assert 'value="approve"' in response.text  # never skips consent
    approved = answer_consent(http, response)
    assert approved.status_code == 303, approved.text
    return approved.headers["location"]


def query_of_url(url: str) -> dict[str, str]:
    return query_of(Response(302, headers={"location": url}))


def test_a_public_client_gets_no_secret_and_signs_a_user_in_with_pkce(
    http: TestClient, user: User, token: str
) -> None:
    """RFC 7591 §2 `none`: a public client; PKCE is its proof (RFC 7636)."""
    metadata = {**WEB_APP_METADATA, "token_endpoint_auth_method": "none"}
    body = registered(register(http, token, metadata))
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    grant = grant_for(http, body["client_id"], None, scope="openid")
    assert grant.access_token and grant.refresh_token


def test_a_client_authenticates_only_with_the_method_it_registered(
    http: TestClient, token: str
) -> None:
    """RFC 7591 §2 token_endpoint_auth_method: client_secret_post, so Basic is refused."""
    body = registered(register(http, token, SERVICE_METADATA))
    assert body["response_types"] == []
    client = (body["client_id"], body["client_secret"])
    form = {"grant_type": "client_credentials"}
    refused = http.post("/token", data=form, headers=basic(*client))
    assert_oauth_error(refused, 401, "invalid_client")
    posted = {**form, "client_id": client[0], "client_secret": client[1]}
    assert http.post("/token", data=posted).status_code == 200


def test_a_registered_client_never_skips_consent_introspects_or_names_audiences(
    http: TestClient, database: Database, token: str
) -> None:
    """Whatever the request says: those are for clients an operator makes (CONTRACT.md)."""
    metadata = {
        **SERVICE_METADATA,
        "skip_consent": True,
        "introspect": True,
        "can_introspect": True,
        "audiences": [SERVICE_AUDIENCE],
        "resource": SERVICE_AUDIENCE,
        "backchannel_logout_uri": "https://notes.example.test/logout",
    }
    body = registered(register(http, token, metadata))
    with database.transaction() as session:
        client = session.get(Client, body["client_id"])
        assert client is not None
        assert (client.skip_consent, client.can_introspect, client.audiences) == (False, False, [])
        assert client.backchannel_logout_uri is None
    posted = {"client_id": body["client_id"], "client_secret": body["client_secret"]}
    targeted = http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": SERVICE_AUDIENCE, **posted},
    )
    assert_oauth_error(targeted, 400, "invalid_target")


def test_secrets_are_stored_only_as_hashes_and_the_registration_is_audited(
    http: TestClient, database: Database, token: str
) -> None:
    body = registered(register(http, token, WEB_APP_METADATA))
    with database.transaction() as session:
        client = session.get(Client, body["client_id"])
        assert client is not None
        assert client.secret_hash == opaque_hash(body["client_secret"])
        assert client.registration_access_token_hash == opaque_hash(
            body["registration_access_token"]
        )
        events = session.exec(select(AuditEvent).where(AuditEvent.event == "client.registered"))
        (event,) = events.all()
    assert event.client_id == body["client_id"]
    for secret in (token, body["client_secret"], body["registration_access_token"]):
        assert secret not in event.details


# -- AUTHSERVER_REGISTRATION=protected: the initial access token (RFC 7591 §3) ----------


def test_protected_registration_without_a_token_is_401_with_a_bare_challenge(
    http: TestClient,
) -> None:
    """RFC 6750 §3.1: no token, so the challenge names no error."""
    response = register(http, None, WEB_APP_METADATA)
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token-we-issued", "Basic bm90OmEtdG9rZW4=", "Bearer", "bearer  "],
    ids=["unknown", "basic", "empty", "blank"],
)
def test_protected_registration_with_anything_but_a_live_token_is_refused(
    http: TestClient, authorization: str
) -> None:
    response = http.post(
        "/register", json=WEB_APP_METADATA, headers={"Authorization": authorization}
    )
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_initial_access_token_is_refused(http: TestClient, database: Database) -> None:
    expired = initial_access_token(
        database, lifetime=timedelta(hours=1), now=utcnow() - timedelta(hours=2)
    )
    response = register(http, expired, WEB_APP_METADATA)
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_an_initial_access_token_registers_as_many_clients_as_it_allows(
    http: TestClient, database: Database
) -> None:
    twice = initial_access_token(database, max_uses=2)
    assert register(http, twice, WEB_APP_METADATA).status_code == 201
    assert register(http, twice, SERVICE_METADATA).status_code == 201
    assert_oauth_error(register(http, twice, WEB_APP_METADATA), 401, "invalid_token")


def test_a_refused_registration_does_not_use_up_the_token(http: TestClient, token: str) -> None:
    """The token's use and the client are one transaction: a 400 rolls both back."""
    bad = {**WEB_APP_METADATA, "redirect_uris": ["http://app.example.test/callback"]}
    assert_oauth_error(register(http, token, bad), 400, "invalid_redirect_uri")
    assert register(http, token, WEB_APP_METADATA).status_code == 201


@pytest.mark.parametrize(
    "content", [b"{oops", b"{}" + b" " * (64 * 1024)], ids=["malformed", "over-64-kib"]
)
def test_a_bad_body_without_a_token_is_401_not_400(http: TestClient, content: bytes) -> None:
    """The caller is checked before its metadata is read."""
    response = http.post("/register", content=content, headers={"Content-Type": "text/plain"})
    assert_oauth_error(response, 401, "invalid_token")


# -- AUTHSERVER_REGISTRATION=open and off ---------------------------------------------------


def test_open_registration_needs_no_token(open_http: TestClient) -> None:
    assert register(open_http, None, WEB_APP_METADATA).status_code == 201
    assert register(open_http, "anything", SERVICE_METADATA).status_code == 201


def test_registrations_from_one_address_are_rate_limited(
    database: Database, keys_dir: Path
) -> None:
    """AUTHSERVER_REGISTRATION_RATE_LIMIT: what keeps open registration from filling the
    clients table; over it, 429 with Retry-After (RFC 6585 §4), before anything is read."""
    with app_with(
        database, keys_dir, registration="open", registration_rate_limit="2/minute"
    ) as http:
        answers = [register(http, None, WEB_APP_METADATA) for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert_oauth_error(answers[2], 429, "temporarily_unavailable")
        assert 1 <= int(answers[2].headers["retry-after"]) <= 60
        # A malformed body is not read either: still 429.
        assert http.post("/register", content=b"{").status_code == 429


@pytest.mark.parametrize("mode", ["protected", "open"])
def test_discovery_names_the_registration_endpoint_unless_off(
    database: Database, keys_dir: Path, mode: str
) -> None:
    """RFC 8414 §2 registration_endpoint."""
    with app_with(database, keys_dir, registration=mode) as http:
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ):
            assert http.get(path).json()["registration_endpoint"] == f"{ISSUER}/register"


def test_with_registration_off_there_is_no_endpoint_and_discovery_says_none(
    database: Database, keys_dir: Path, token: str
) -> None:
    with app_with(database, keys_dir, registration="off") as http:
        refused = register(http, token, WEB_APP_METADATA)
        managed = http.get("/register/some-client", headers=bearer(token))
        metadata = http.get("/.well-known/openid-configuration").json()
    for response in (refused, managed):
        assert_oauth_error(response, 404, "not_found")
    assert "registration_endpoint" not in metadata


# -- Bodies that are no client metadata -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"client_name": "x"}', "application/x-www-form-urlencoded"),
        (b'{"client_name": "x"}', "text/plain"),
        (b'{"client_name": "x"}', "application/json; charset=latin-1"),
        (b"client_name=x", "application/json"),
        (b"", "application/json"),
        (b'{"client_name": "x"', "application/json"),
        (b'["client_name"]', "application/json"),
        (b'"client_name"', "application/json"),
        (b"null", "application/json"),
        (b'{"client_name": "a", "client_name": "b"}', "application/json"),
        (b'{"software_version": NaN}', "application/json"),
        (b'{"x": Infinity}', "application/json"),
        (b'{"client_name": "\\u0000"}', "application/json"),
        (b'{"frobnicate": "\\ud800"}', "application/json"),
        (b'{"client_name": "\xff"}', "application/json"),
        (b"[" * 20_000 + b"]" * 20_000, "application/json"),
        (b'{"x": ' + b"9" * 5000 + b"}", "application/json"),
        (b'{"x": "' + b"a" * (64 * 1024) + b'"}', "application/json"),
    ],
    ids=[
        "form-type",
        "text-type",
        "latin-1",
        "a-form",
        "empty",
        "truncated",
        "an-array",
        "a-string",
        "null",
        "repeated-member",
        "nan",
        "infinity",
        "nul",
        "lone-surrogate",
        "not-utf-8",
        "deeply-nested",
        "huge-number",
        "over-64-kib",
    ],
)
def test_a_body_that_is_no_json_object_is_invalid_client_metadata(
    open_http: TestClient, content: bytes, content_type: str
) -> None:
    """RFC 7591 §3.1: a JSON document; anything else is 400, never a 500."""
    response = open_http.post("/register", content=content, headers={"Content-Type": content_type})
    assert_oauth_error(response, 400, "invalid_client_metadata")


# -- Every metadata field, wrong (RFC 7591 §2, §3.2.2) -------------------------------------------

_KEY = ECKey.generate_key("P-256")
PUBLIC_KEY = _KEY.as_dict(private=False)
PRIVATE_KEY = _KEY.as_dict(private=True)
REDIRECT = {"redirect_uris": [WEB_APP_REDIRECT_URI]}
CLIENT_CREDENTIALS = {"grant_types": ["client_credentials"]}
INVALID = "invalid_client_metadata"
INVALID_REDIRECT = "invalid_redirect_uri"

INVALID_METADATA: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, the fields that differ from a valid web app, error, the field it names)
    ("redirect-uris-a-string", {"redirect_uris": WEB_APP_REDIRECT_URI}, INVALID, "redirect_uris"),
    ("redirect-uris-numbers", {"redirect_uris": [1]}, INVALID, "redirect_uris"),
    ("redirect-uris-missing", {"redirect_uris": []}, INVALID_REDIRECT, "redirect_uris"),
    (
        "redirect-http",
        {"redirect_uris": ["http://app.example.test/cb"]},
        INVALID_REDIRECT,
        "redirect_uris[0]",
    ),
    (
        "redirect-fragment",
        {"redirect_uris": [WEB_APP_REDIRECT_URI, "https://app.example.test/cb#x"]},
        INVALID_REDIRECT,
        "redirect_uris[1]",
    ),
    (
        "redirect-wildcard",
        {"redirect_uris": ["https://*.example.test/cb"]},
        INVALID_REDIRECT,
        "redirect_uris[0]",
    ),
    (
        "redirect-javascript",
        {"redirect_uris": ["javascript:alert(1)"]},
        INVALID_REDIRECT,
        "redirect_uris[0]",
    ),
    (
        "redirect-userinfo",
        {"redirect_uris": ["https://a@evil.test/cb"]},
        INVALID_REDIRECT,
        "redirect_uris[0]",
    ),
    ("redirect-relative", {"redirect_uris": ["/callback"]}, INVALID_REDIRECT, "redirect_uris[0]"),
    (
        "redirect-backslash",
        {"redirect_uris": ["https://a.test\\@evil.test/"]},
        INVALID_REDIRECT,
        "redirect_uris[0]",
    ),
    ("redirect-too-many", {"redirect_uris": [WEB_APP_REDIRECT_URI] * 21}, INVALID, "redirect_uris"),
    ("grant-types-a-string", {"grant_types": "authorization_code"}, INVALID, "grant_types"),
    ("grant-type-password", {"grant_types": ["password"]}, INVALID, "grant_types"),
    ("grant-type-implicit", {"grant_types": ["implicit"]}, INVALID, "grant_types"),
    (
        "grant-type-device-code",
        {"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]},
        INVALID,
        "grant_types",
    ),
    ("grant-types-empty", {"grant_types": [], "response_types": []}, INVALID, "grant_types"),
    ("response-type-token", {"response_types": ["token"]}, INVALID, "response_types"),
    ("response-type-hybrid", {"response_types": ["code id_token"]}, INVALID, "response_types"),
    ("response-types-a-string", {"response_types": "code"}, INVALID, "response_types"),
    (
        "code-without-its-grant",
        {**CLIENT_CREDENTIALS, "response_types": ["code"]},
        INVALID,
        "response_types",
    ),
    ("grant-without-code", {"response_types": []}, INVALID, "response_types"),
    (
        "private-key-jwt",
        {"token_endpoint_auth_method": "private_key_jwt"},
        INVALID,
        "token_endpoint_auth_method",
    ),
    (
        "client-secret-jwt",
        {"token_endpoint_auth_method": "client_secret_jwt"},
        INVALID,
        "token_endpoint_auth_method",
    ),
    ("auth-method-a-number", {"token_endpoint_auth_method": 1}, INVALID, "token_endpoint_auth"),
    (
        "public-client-credentials",
        {**CLIENT_CREDENTIALS, "response_types": [], "token_endpoint_auth_method": "none"},
        INVALID,
        "token_endpoint_auth_method",
    ),
    ("client-name-a-number", {"client_name": 7}, INVALID, "client_name"),
    ("client-name-blank", {"client_name": "  "}, INVALID, "client_name"),
    ("client-name-too-long", {"client_name": "x" * 201}, INVALID, "client_name"),
    ("client-name-control", {"client_name": "a\nb"}, INVALID, "client_name"),
    ("client-uri-http", {"client_uri": "http://notes.example.test"}, INVALID, "client_uri"),
    ("logo-uri-no-url", {"logo_uri": "logo.png"}, INVALID, "logo_uri"),
    ("tos-uri-a-list", {"tos_uri": ["https://notes.example.test/tos"]}, INVALID, "tos_uri"),
    ("policy-uri-fragment", {"policy_uri": "https://n.example.test/#p"}, INVALID, "policy_uri"),
    ("policy-uri-userinfo", {"policy_uri": "https://u@n.example.test/"}, INVALID, "policy_uri"),
    ("contacts-a-string", {"contacts": "ops@notes.example.test"}, INVALID, "contacts"),
    ("contacts-numbers", {"contacts": [1]}, INVALID, "contacts"),
    ("contacts-empty-string", {"contacts": [""]}, INVALID, "contacts"),
    ("scope-a-list", {"scope": ["openid"]}, INVALID, "scope"),
    ("scope-not-offered", {"scope": "openid admin"}, INVALID, "scope"),
    ("scope-api", {"scope": "orders:write"}, INVALID, "scope"),
    ("scope-quote", {"scope": 'openid "profile'}, INVALID, "scope"),
    ("scope-blank", {"scope": " "}, INVALID, "scope"),
    (
        "jwks-and-jwks-uri",
        {"jwks": {"keys": [PUBLIC_KEY]}, "jwks_uri": "https://notes.example.test/jwks"},
        INVALID,
        "jwks",
    ),
    ("jwks-a-private-key", {"jwks": {"keys": [PRIVATE_KEY]}}, INVALID, "jwks"),
    ("jwks-a-secret-key", {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, INVALID, "jwks"),
    ("jwks-no-keys", {"jwks": {"keys": []}}, INVALID, "jwks"),
    ("jwks-keys-a-string", {"jwks": {"keys": "none"}}, INVALID, "jwks"),
    ("jwks-a-list", {"jwks": [PUBLIC_KEY]}, INVALID, "jwks"),
    (
        "jwks-a-bad-key",
        {"jwks": {"keys": [{"kty": "RSA", "n": "AA", "e": "AQAB"}]}},
        INVALID,
        "jwks",
    ),
    ("jwks-uri-http", {"jwks_uri": "http://notes.example.test/jwks"}, INVALID, "jwks_uri"),
    ("software-id-a-number", {"software_id": 5}, INVALID, "software_id"),
    ("software-version-an-object", {"software_version": {"v": 1}}, INVALID, "software_version"),
    (
        "post-logout-a-string",
        {"post_logout_redirect_uris": "https://app.example.test/bye"},
        INVALID,
        "post_logout_redirect_uris",
    ),
    (
        "post-logout-http",
        {"post_logout_redirect_uris": ["http://app.example.test/bye"]},
        INVALID,
        "post_logout_redirect_uris[0]",
    ),
]


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [case[1:] for case in INVALID_METADATA],
    ids=[case[0] for case in INVALID_METADATA],
)
def test_each_invalid_field_is_refused_naming_it(
    open_http: TestClient, changes: dict[str, Any], error: str, field: str
) -> None:
    """RFC 7591 §3.2.2: 400 with invalid_redirect_uri or invalid_client_metadata; the
    description names the field, never echoes its value; nothing is stored."""
    response = register(open_http, None, {**WEB_APP_METADATA, **changes})
    body = assert_oauth_error(response, 400, error)
    assert body["error_description"].startswith(field), body
    for value in changes.values():
        if isinstance(value, list) and value and isinstance(value[0], str) and "://" in value[-1]:
            assert value[-1] not in body["error_description"]


def test_a_refused_registration_stores_nothing(open_http: TestClient, database: Database) -> None:
    bad = {**WEB_APP_METADATA, "jwks": {"keys": [PRIVATE_KEY]}}
    assert register(open_http, None, bad).status_code == 400
    with database.transaction() as session:
        assert session.exec(select(Client)).all() == []
        assert session.exec(select(AuditEvent)).all() == []


def test_a_public_key_set_and_every_descriptive_field_are_kept(open_http: TestClient) -> None:
    metadata = {
        **WEB_APP_METADATA,
        "jwks": {"keys": [PUBLIC_KEY]},
        "tos_uri": "https://notes.example.test/tos",
        "policy_uri": "https://notes.example.test/privacy",
    }
    body = registered(register(open_http, None, metadata))
    assert body["jwks"] == {"keys": [PUBLIC_KEY]}
    assert body["tos_uri"] == metadata["tos_uri"]
    assert body["policy_uri"] == metadata["policy_uri"]
    assert body["software_id"] == metadata["software_id"]
