"""private_key_jwt client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9) at
/token, /revoke, /introspect and /device_authorization, with keys registered inline or at a
`jwks_uri`, and every way an assertion can be wrong."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import ECKey

from authserver.clients.models import Client
from authserver.db import Database
from authserver.oauth import FormRequest
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_client, make_web_app
from tests.flows import Pkce, code_of
from tests.http.keyholders import (
    KeyHolder,
    assertion_form,
    jwks_server,
    key_holder,
)
from tests.http.registration import app_with, bearer, register
from tests.http.tokens import assert_oauth_error, basic, claims_of

PRIVATE_KEY_JWT = "private_key_jwt"
FAILED = {"error": "invalid_client", "error_description": "Client authentication failed."}


def keyed_client(database: Database, holder: KeyHolder, **overrides: Any) -> Client:
    """A client_credentials client registered with `holder`'s public key (no secret)."""
    fields: dict[str, Any] = {"token_endpoint_auth_method": PRIVATE_KEY_JWT, "jwks": holder.jwks}
    fields.update(overrides)
    client, secret = make_client(database, **fields)
    assert secret is None  # RFC 7523 §2.2: it proves itself with its keys
    return client


def token_with(http: TestClient, assertion: str, **form: str) -> Response:
    data = assertion_form(assertion, grant_type="client_credentials", **form)
    return http.post("/token", data=data)


def assert_refused(response: Response) -> None:
    """RFC 7521 §4.2.1: invalid_client, 401, the same answer whichever check failed."""
    assert_oauth_error(response, 401, "invalid_client")
    assert response.json() == FAILED


# -- Accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_a_signed_assertion_gets_a_client_credentials_token(
    http: TestClient, database: Database, alg: str
) -> None:
    holder = key_holder(alg)
    client = keyed_client(database, holder)
    response = token_with(http, holder.assertion(client.client_id))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["client_id"] == client.client_id


@pytest.mark.parametrize(
    "aud",
    [ISSUER, f"{ISSUER}/token", [ISSUER, "https://elsewhere.example.test"]],
    ids=["issuer", "token-endpoint", "array-with-issuer"],
)
def test_the_issuer_or_the_token_endpoint_is_an_accepted_audience(
    http: TestClient, database: Database, aud: Any
) -> None:
    """RFC 7523 §3 item 3; FAPI 2.0 §5.3.2.1: the issuer identifier is always accepted."""
    holder = key_holder()
    client = keyed_client(database, holder)
    assert token_with(http, holder.assertion(client.client_id, aud=aud)).status_code == 200


def test_an_assertion_without_kid_or_typ_is_verified_with_each_key_of_its_alg(
    http: TestClient, database: Database
) -> None:
    """RFC 7515 §4.1.4, §4.1.9: both optional. An Ed25519 key and an RSA key are
    registered; an RS256 assertion without `kid` is checked against the RSA key only."""
    rsa_holder, ed_holder = key_holder("RS256", kid="rsa"), key_holder("EdDSA", kid="ed")
    client = keyed_client(database, rsa_holder, jwks={"keys": [ed_holder.jwk, rsa_holder.jwk]})
    assertion = rsa_holder.assertion(client.client_id, header={"kid": None})
    assert token_with(http, assertion).status_code == 200


def test_a_client_id_naming_the_same_client_may_be_sent(
    http: TestClient, database: Database
) -> None:
    """RFC 7521 §4.2: client_id is optional and then names the assertion's client."""
    holder = key_holder()
    client = keyed_client(database, holder)
    response = token_with(http, holder.assertion(client.client_id), client_id=client.client_id)
    assert response.status_code == 200, response.text


def test_the_code_flow_token_request_authenticates_with_an_assertion(
    http: TestClient, database: Database, user: User
) -> None:
    holder = key_holder("PS256")
    client, secret = make_web_app(
        database, token_endpoint_auth_method=PRIVATE_KEY_JWT, jwks=holder.jwks
    )
    assert secret is None
    pkce = Pkce()
    code = code_of(http, client.client_id, pkce)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
        "code_verifier": pkce.verifier,
    }
    response = http.post("/token", data=assertion_form(holder.assertion(client.client_id), **form))
    assert response.status_code == 200, response.text
    body = response.json()
    assert claims_of(body["id_token"])["aud"] == client.client_id
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    refreshed = http.post(
        "/token", data=assertion_form(holder.assertion(client.client_id), **refresh)
    )
    assert refreshed.status_code == 200, refreshed.text


# -- Refused ----------------------------------------------------------------------------------

OTHER_KEY = key_holder("ES256", kid="k1", index=1)  # same kid, not the registered key


def _hs256_with_public_key(holder: KeyHolder, claims: dict[str, Any]) -> str:
    """RFC 8725 §2.1: HS256 keyed with the client's own public key (PEM), which anyone has."""
    secret = holder.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_segment({'alg': 'HS256', 'kid': holder.kid})}.{_segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none'})}.{_segment(claims)}."


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _claims(client_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "jti": "j-" + str(now)}
    return {**claims, "iat": now, "exp": now + 60, **changes}


REFUSED: list[tuple[str, Any]] = [
    # RFC 7523 §3 item 3: the audience must name this server.
    ("wrong-aud", lambda h, c: h.assertion(c, aud="https://other.example.test")),
    ("aud-a-number", lambda h, c: h.assertion(c, aud=7)),
    # §3 item 4: expired (beyond AUTHSERVER_JWT_LEEWAY of 60 s).
    ("expired", lambda h, c: h.assertion(c, iat=int(time.time()) - 300, lifetime=-200)),
    # Our bound: at most 5 minutes ahead (docs/clients.md).
    ("exp-too-far-ahead", lambda h, c: h.assertion(c, lifetime=3600)),
    ("no-exp", lambda h, c: h.assertion(c, exp=None)),
    ("exp-a-string", lambda h, c: h.assertion(c, exp="soon")),
    # §3 items 5 and 6: not valid yet.
    ("nbf-in-the-future", lambda h, c: h.assertion(c, nbf=int(time.time()) + 600)),
    ("iat-in-the-future", lambda h, c: h.assertion(c, iat=int(time.time()) + 200, lifetime=250)),
    # §3 item 7, required here: a jti.
    ("no-jti", lambda h, c: h.assertion(c, jti=None)),
    ("empty-jti", lambda h, c: h.assertion(c, jti="")),
    # §3 items 1 and 2.B: iss and sub are the client_id.
    ("iss-not-sub", lambda h, c: h.assertion(c, iss="someone-else")),
    ("no-iss", lambda h, c: h.assertion(c, iss=None)),
    # §3 item 9: signed by the client's registered key, and no other.
    ("another-key", lambda h, c: OTHER_KEY.assertion(c)),
    ("unknown-kid", lambda h, c: h.assertion(c, header={"kid": "not-registered"})),
    # RFC 8725 §2.1, §3.1: no `none`, no HMAC keyed with the public key.
    ("alg-none", lambda h, c: _unsigned(_claims(c))),
    ("hs256-with-the-public-key", lambda h, c: _hs256_with_public_key(h, _claims(c))),
    # RFC 8725 §3.10: a key the token carries or names is never used.
    ("jwk-header", lambda h, c: h.assertion(c, header={"jwk": OTHER_KEY.jwk})),
    ("jku-header", lambda h, c: h.assertion(c, header={"jku": "https://evil.example.test/k"})),
    ("x5u-header", lambda h, c: h.assertion(c, header={"x5u": "https://evil.example.test/c"})),
    ("crit-header", lambda h, c: h.assertion(c, header={"crit": ["exp"]})),
    ("typ-at-jwt", lambda h, c: h.assertion(c, header={"typ": "at+jwt"})),
    ("not-a-jwt", lambda h, c: "not.a.jwt"),
    ("too-long", lambda h, c: h.assertion(c, padding="x" * 9000)),
    ("truncated-signature", lambda h, c: h.assertion(c)[:-10]),
]


@pytest.mark.parametrize("make", [case[1] for case in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_assertion_is_refused_as_invalid_client(
    http: TestClient, database: Database, make: Any
) -> None:
    holder = key_holder()
    client = keyed_client(database, holder)
    assert_refused(token_with(http, make(holder, client.client_id)))
    # The client is fine: a good assertion still works.
    assert token_with(http, holder.assertion(client.client_id)).status_code == 200


def test_a_jti_is_accepted_once(http: TestClient, database: Database) -> None:
    """RFC 7523 §3 item 7: a replayed assertion is refused, on every replica (ReplayGuard)."""
    holder = key_holder()
    client = keyed_client(database, holder)
    assertion = holder.assertion(client.client_id)
    assert token_with(http, assertion).status_code == 200
    assert_refused(token_with(http, assertion))
    same_jti = holder.assertion(client.client_id, jti=claims_of(assertion)["jti"])
    assert_refused(token_with(http, same_jti))


def test_an_assertion_for_another_client_is_refused(http: TestClient, database: Database) -> None:
    """§3 item 2.B: `sub` names the client; its keys, not the signer's, must verify."""
    ours, theirs = key_holder(kid="ours"), key_holder(kid="theirs", index=1)
    keyed_client(database, ours)
    victim = keyed_client(database, theirs)
    assert_refused(token_with(http, ours.assertion(victim.client_id, header={"kid": "theirs"})))
    assert_refused(token_with(http, ours.assertion(victim.client_id)))


def test_an_unknown_client_fails_like_a_bad_signature(http: TestClient, database: Database) -> None:
    holder = key_holder()
    client = keyed_client(database, holder)
    unknown = token_with(http, holder.assertion("no-such-client"))
    bad = token_with(http, OTHER_KEY.assertion(client.client_id))
    assert unknown.status_code == bad.status_code == 401
    assert unknown.json() == bad.json() == FAILED


def test_a_client_id_other_than_the_assertions_is_refused(
    http: TestClient, database: Database
) -> None:
    """RFC 7521 §4.2: client_id, when sent, names the client the assertion names."""
    holder = key_holder()
    client = keyed_client(database, holder)
    other = keyed_client(database, holder)
    assert_refused(token_with(http, holder.assertion(client.client_id), client_id=other.client_id))


def test_an_assertion_with_basic_or_a_client_secret_is_invalid_request(
    http: TestClient, database: Database, registered: tuple[str, str]
) -> None:
    """RFC 6749 §2.3: one authentication method per request."""
    holder = key_holder()
    client = keyed_client(database, holder)
    assertion = holder.assertion(client.client_id)
    data = assertion_form(assertion, grant_type="client_credentials")
    with_basic = http.post("/token", data=data, headers=basic(*registered))
    assert_oauth_error(with_basic, 400, "invalid_request")
    with_secret = http.post("/token", data={**data, "client_secret": "x"})
    assert_oauth_error(with_secret, 400, "invalid_request")


def test_the_assertion_parameters_go_together(http: TestClient, database: Database) -> None:
    """RFC 7521 §4.2: both required; RFC 7523 §2.2: jwt-bearer is the one type we take."""
    holder = key_holder()
    client = keyed_client(database, holder)
    assertion = holder.assertion(client.client_id)
    form = {"grant_type": "client_credentials"}
    alone = http.post("/token", data={**form, "client_assertion": assertion})
    assert_oauth_error(alone, 400, "invalid_request")
    type_only = http.post("/token", data={**form, "client_assertion_type": "x"})
    assert_oauth_error(type_only, 400, "invalid_request")
    saml = {
        **form,
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
    }
    assert_refused(http.post("/token", data=saml))


def test_a_secret_client_cannot_use_an_assertion_nor_a_key_client_a_secret(
    http: TestClient, database: Database, registered: tuple[str, str]
) -> None:
    """RFC 7591 §2: a client authenticates with the method it registered, and no other."""
    holder = key_holder()
    secret_client_id, secret = registered
    assert_refused(token_with(http, holder.assertion(secret_client_id)))
    client = keyed_client(database, holder)
    by_id_only = {"grant_type": "client_credentials", "client_id": client.client_id}
    assert_refused(http.post("/token", data=by_id_only))
    with_a_secret = http.post("/token", data={**by_id_only, "client_secret": secret})
    assert_refused(with_a_secret)
    assert_refused(http.post("/token", data=by_id_only, headers=basic(client.client_id, secret)))


def test_a_request_with_an_assertion_does_not_run_in_the_event_loop(
    http: TestClient, database: Database
) -> None:
    """Its jti is written down and a jwks_uri may be fetched: never on the event loop, even
    for a cached client (`knows_client_of`)."""
    holder = key_holder()
    client = keyed_client(database, holder)
    server = http.app.state.services.oauth  # type: ignore[attr-defined]
    form = assertion_form(holder.assertion(client.client_id), grant_type="client_credentials")
    request = FormRequest("POST", f"{ISSUER}/token", {}, form.items())
    assert server.knows_client_of(request) is False


# -- Keys at a jwks_uri -----------------------------------------------------------------------


def test_keys_at_a_jwks_uri_are_fetched_cached_and_refetched_for_a_new_kid(
    http: TestClient, database: Database
) -> None:
    """OIDC Core §10.1.1: a client rotates by publishing its new key; an unknown `kid`
    fetches the set again once, then not again within a minute (made-up kids are cheap)."""
    first, second, third = key_holder(kid="a"), key_holder(kid="b", index=1), key_holder(kid="c")
    with jwks_server() as served:
        served.jwks = first.jwks
        client = keyed_client(database, first, jwks=None, jwks_uri=served.uri)
        assert token_with(http, first.assertion(client.client_id)).status_code == 200
        assert token_with(http, first.assertion(client.client_id)).status_code == 200
        assert served.fetches == 1  # cached
        served.jwks = {"keys": [first.jwk, second.jwk]}
        assert token_with(http, second.assertion(client.client_id)).status_code == 200
        assert served.fetches == 2  # the new kid fetched the set again
        served.jwks = {"keys": [second.jwk, third.jwk]}
        assert_refused(token_with(http, third.assertion(client.client_id)))
        assert served.fetches == 2  # a second unknown kid within a minute: not refetched
        assert token_with(http, first.assertion(client.client_id)).status_code == 200  # cached


def test_a_jwks_uri_that_fails_refuses_the_client_never_a_500(
    http: TestClient, database: Database
) -> None:
    holder = key_holder()
    with jwks_server() as served:
        served.status = 500
        client = keyed_client(database, holder, jwks=None, jwks_uri=served.uri)
        assert_refused(token_with(http, holder.assertion(client.client_id)))
        served.status, served.jwks = 200, {"keys": "not a list"}
        other = keyed_client(database, holder, jwks=None, jwks_uri=served.uri)
        assert_refused(token_with(http, holder.assertion(other.client_id)))
        uri = served.uri
    gone = keyed_client(database, holder, jwks=None, jwks_uri=uri)  # nobody listens now
    assert_refused(token_with(http, holder.assertion(gone.client_id)))


# -- Other endpoints --------------------------------------------------------------------------


def test_revoke_and_introspect_authenticate_with_an_assertion(
    http: TestClient, database: Database
) -> None:
    """RFC 7009 §2.1, RFC 7662 §2.1 take any client authentication; the assertion's `aud`
    may be the endpoint it is sent to."""
    holder = key_holder("EdDSA")
    client = keyed_client(database, holder)
    token = token_with(http, holder.assertion(client.client_id)).json()["access_token"]
    aud = f"{ISSUER}/introspect"
    introspect = assertion_form(holder.assertion(client.client_id, aud=aud), token=token)
    answer = http.post("/introspect", data=introspect)
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True and answer.json()["client_id"] == client.client_id
    revoke = assertion_form(holder.assertion(client.client_id), token=token)
    assert http.post("/revoke", data=revoke).status_code == 200
    again = assertion_form(holder.assertion(client.client_id), token=token)
    assert http.post("/introspect", data=again).json() == {"active": False}
    assert_refused(http.post("/introspect", data=introspect))  # the same jti again


def test_device_authorization_authenticates_with_an_assertion(
    http: TestClient, database: Database
) -> None:
    """RFC 8628 §3.1: a confidential client authenticates as at the token endpoint."""
    holder = key_holder()
    client = keyed_client(
        database, holder, grant_types=["urn:ietf:params:oauth:grant-type:device_code"]
    )
    form = assertion_form(holder.assertion(client.client_id), scope="orders:read")
    response = http.post("/device_authorization", data=form)
    assert response.status_code == 200, response.text
    assert "device_code" in response.json()


def test_discovery_names_private_key_jwt_and_its_algorithms(http: TestClient) -> None:
    """RFC 8414 §2: the methods and signing algorithms of client assertions."""
    metadata = http.get("/.well-known/openid-configuration").json()
    for endpoint in ("token", "revocation", "introspection"):
        assert PRIVATE_KEY_JWT in metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        algs = metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert {"RS256", "PS256", "ES256", "EdDSA"} <= set(algs)
        assert not {"none", "HS256"} & set(algs)


# -- Authlib's client ------------------------------------------------------------------------


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT signs assertions valid for an hour; this server takes at
    most five minutes (docs/clients.md), so the client asks for one minute."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            expires_in=60,
        )


def _authlib_client(http: TestClient, client_id: str, key: ECKey, auth: Any) -> OAuth2Client:
    return OAuth2Client(
        client_id,
        key,
        token_endpoint_auth_method=auth,
        transport=http._transport,
        base_url=ISSUER,
    )


def test_an_authlib_client_fetches_tokens_with_private_key_jwt(
    http: TestClient, database: Database
) -> None:
    """Authlib's RFC 7523 client auth (aud: the token endpoint, no kid), twice: each
    assertion has its own jti."""
    key = ECKey.generate_key("P-256", private=True)
    client, _ = make_client(
        database,
        token_endpoint_auth_method=PRIVATE_KEY_JWT,
        jwks={"keys": [key.as_dict(private=False)]},
    )
    auth = ShortLivedPrivateKeyJWT(f"{ISSUER}/token", alg="ES256")
    with _authlib_client(http, client.client_id, key, auth) as oauth:
        first = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
        second = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
    assert claims_of(first["access_token"])["client_id"] == client.client_id
    assert first["access_token"] != second["access_token"]


def test_authlibs_default_hour_long_assertion_is_refused(
    http: TestClient, database: Database
) -> None:
    """The lifetime bound holds for Authlib's default too (exp = iat + 3600)."""
    key = ECKey.generate_key("P-256", private=True)
    client, _ = make_client(
        database,
        token_endpoint_auth_method=PRIVATE_KEY_JWT,
        jwks={"keys": [key.as_dict(private=False)]},
    )
    auth = PrivateKeyJWT(f"{ISSUER}/token", alg="ES256")
    with (
        _authlib_client(http, client.client_id, key, auth) as oauth,
        pytest.raises(OAuthError) as refused,
    ):
        oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


# -- Dynamic registration (RFC 7591 §2) --------------------------------------------------------

SERVICE_METADATA: dict[str, Any] = {
    "client_name": "Reports",
    "grant_types": ["client_credentials"],
    "response_types": [],
    "token_endpoint_auth_method": PRIVATE_KEY_JWT,
}


@pytest.fixture
def open_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    with app_with(database, keys_dir, registration="open") as http:
        yield http


def test_a_registered_private_key_jwt_client_gets_no_secret_and_authenticates(
    open_http: TestClient, database: Database
) -> None:
    """RFC 7591 §2-3.2.1: its keys as `jwks`, stored for assertions; no `client_secret`
    and so no `client_secret_expires_at`."""
    holder = key_holder("EdDSA")
    response = register(open_http, None, {**SERVICE_METADATA, "jwks": holder.jwks})
    assert response.status_code == 201, response.text
    body = response.json()
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == PRIVATE_KEY_JWT
    assert body["jwks"] == holder.jwks
    with database.reading() as db:
        stored = db.get(Client, body["client_id"])
    assert stored is not None and stored.jwks == holder.jwks and not stored.is_public
    assert token_with(open_http, holder.assertion(body["client_id"])).status_code == 200


def test_a_registered_jwks_uri_is_stored_for_fetching(
    open_http: TestClient, database: Database
) -> None:
    uri = "https://reports.example.test/jwks.json"
    body = register(open_http, None, {**SERVICE_METADATA, "jwks_uri": uri}).json()
    assert body["jwks_uri"] == uri and "jwks" not in body
    with database.reading() as db:
        stored = db.get(Client, body["client_id"])
    assert stored is not None and stored.jwks_uri == uri and stored.registration_metadata == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "token_endpoint_auth_method"),
        ({"jwks": {"keys": [key_holder().jwk | {"d": "AAAA"}]}}, "jwks"),
        ({"jwks": {"keys": [key_holder("RS256").jwk, key_holder("RS256").jwk]}}, "jwks"),
        ({"jwks_uri": "http://reports.example.test/jwks"}, "jwks_uri"),
    ],
    ids=["no-keys", "a-private-key", "same-kid-twice", "http-jwks-uri"],
)
def test_a_private_key_jwt_registration_without_usable_keys_is_refused(
    open_http: TestClient, changes: dict[str, Any], field: str
) -> None:
    response = register(open_http, None, {**SERVICE_METADATA, **changes})
    body = assert_oauth_error(response, 400, "invalid_client_metadata")
    assert body["error_description"].startswith(field), body


def test_an_update_cannot_trade_keys_for_a_secret(open_http: TestClient) -> None:
    """RFC 7592 §2.2: a client without a secret cannot become one that needs it."""
    holder = key_holder()
    body = register(open_http, None, {**SERVICE_METADATA, "jwks": holder.jwks}).json()
    path = body["registration_client_uri"].removeprefix(ISSUER)
    issued = ("registration_access_token", "registration_client_uri", "client_id_issued_at")
    metadata = {name: value for name, value in body.items() if name not in issued}
    headers = bearer(body["registration_access_token"])
    secret = {**metadata, "token_endpoint_auth_method": "client_secret_basic", "jwks": None}
    refused = open_http.put(path, json=secret, headers=headers)
    assert_oauth_error(refused, 400, "invalid_client_metadata")
    rotated = key_holder(kid="k2", index=1)
    moved = open_http.put(path, json={**metadata, "jwks": rotated.jwks}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert_refused(token_with(open_http, holder.assertion(body["client_id"])))
    assert token_with(open_http, rotated.assertion(body["client_id"])).status_code == 200
