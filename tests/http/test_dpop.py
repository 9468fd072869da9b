"""DPoP at the token endpoint, /userinfo and /introspect (RFC 9449), on both databases.

Proofs are signed with real keys (`tests.dpop_proofs`): ES256 throughout, RS256, PS256
and EdDSA once each.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from authserver.app import create_app
from authserver.clients.models import TOKEN_EXCHANGE
from authserver.db import Database
from authserver.grants.token_exchange import ACCESS_TOKEN_TYPE
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.dpop_proofs import DPoPKey, hs256_proof, unsigned_proof
from tests.factories import make_client, make_web_app
from tests.flows import Pkce, code_of
from tests.http.tokens import assert_oauth_error, basic, claims_of

TOKEN_URL = f"{ISSUER}/token"
USERINFO_URL = f"{ISSUER}/userinfo"


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


@pytest.fixture(scope="module")
def other_key() -> DPoPKey:
    return DPoPKey.generate()


def client_credentials(
    http: TestClient, client: tuple[str, str], proof: str | list[str] | None = None
) -> Response:
    headers = list(basic(*client).items())
    for value in [proof] if isinstance(proof, str) else proof or []:
        headers.append(("DPoP", value))
    return http.post("/token", data={"grant_type": "client_credentials"}, headers=headers)


def token_request(
    http: TestClient, client_id: str, secret: str | None, proof: str | None, **form: str
) -> Response:
    """A token request of a confidential client (HTTP Basic) or a public one (client_id)."""
    headers = basic(client_id, secret) if secret is not None else {}
    data = dict(form) if secret is not None else {**form, "client_id": client_id}
    if proof is not None:
        headers["DPoP"] = proof
    return http.post("/token", data=data, headers=headers)


def redeem(
    http: TestClient,
    client: tuple[str, str | None],
    proof: str | None,
    **authorize: str,
) -> Response:
    """Authorize `openid profile` in this browser, then redeem the code with `proof`."""
    pkce = Pkce()
    code = code_of(http, client[0], pkce, **authorize)
    return token_request(
        http,
        *client,
        proof,
        grant_type="authorization_code",
        code=code,
        redirect_uri="https://app.example.test/callback",
        code_verifier=pkce.verifier,
    )


def refresh(
    http: TestClient, client: tuple[str, str | None], refresh_token: str, proof: str | None
) -> Response:
    return token_request(
        http, *client, proof, grant_type="refresh_token", refresh_token=refresh_token
    )


def userinfo(
    http: TestClient, scheme: str, token: str, proof: str | None = None, method: str = "GET"
) -> Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return http.request(method, "/userinfo", headers=headers)


@pytest.fixture
def public_app(database: Database, user: User) -> tuple[str, None]:
    client, _ = make_web_app(database, public=True, name="Public App")
    return client.client_id, None


@pytest.fixture
def bound_tokens(http: TestClient, web_app: tuple[str, str], key: DPoPKey) -> dict[str, Any]:
    """A confidential web app's tokens, the access token bound to `key`."""
    response = redeem(http, web_app, key.proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.text
    return response.json()


# --- the token endpoint (§5) -------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
def test_a_proof_binds_the_access_token_to_its_key(
    http: TestClient, registered: tuple[str, str], alg: str
) -> None:
    """§5: token_type DPoP; §6.1: `cnf.jkt` is the RFC 7638 thumbprint of the proof's key."""
    dpop_key = DPoPKey.generate(alg)
    response = client_credentials(http, registered, dpop_key.proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": dpop_key.jkt}
    assert "dpop-nonce" not in response.headers  # no nonce unless required (§8)


def test_without_a_proof_the_token_is_a_bearer_token_as_before(
    http: TestClient, registered: tuple[str, str]
) -> None:
    response = client_credentials(http, registered)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json()["access_token"])


def _bad_proofs() -> dict[str, Callable[[DPoPKey], str | list[str]]]:
    now = int(time.time())
    url, post = TOKEN_URL, "POST"
    return {
        "alg none": lambda k: unsigned_proof(k, post, url),
        "alg HS256": lambda k: hs256_proof(k, post, url),
        "a private key in jwk": lambda k: k.proof(post, url, header={"jwk": k.private_jwk}),
        "no jwk": lambda k: k.proof(post, url, header={"jwk": None}),
        "a kid besides the jwk": lambda k: k.proof(post, url, header={"kid": "k1"}),
        "typ jwt": lambda k: k.proof(post, url, header={"typ": "JWT"}),
        "alg of another key type": lambda k: k.proof(post, url, header={"alg": "RS256"}),
        "no jti": lambda k: k.proof(post, url, jti=None),
        "no htm": lambda k: k.proof(post, url, htm=None),
        "no htu": lambda k: k.proof(post, url, htu=None),
        "no iat": lambda k: k.proof(post, url, iat=None),
        "an old iat": lambda k: k.proof(post, url, iat=now - 3600),
        "a future iat": lambda k: k.proof(post, url, iat=now + 3600),
        "an iat that is a string": lambda k: k.proof(post, url, iat=str(now)),
        "a jti of 257 characters": lambda k: k.proof(post, url, jti="j" * 257),
        "another method": lambda k: k.proof("GET", url),
        "another URL": lambda k: k.proof(post, f"{ISSUER}/introspect"),
        "another host": lambda k: k.proof(post, "http://127.0.0.2:8000/token"),
        "a bad signature": lambda k: k.proof(post, url)[:-6] + "AAAAAA",
        "signed by another key": lambda k: DPoPKey.generate().proof(
            post, url, header={"jwk": k.jwk}
        ),
        "not a JWT": lambda k: "not-a-jwt",
        "two segments": lambda k: ".".join(k.proof(post, url).split(".")[:2]),
        "over 8 KiB": lambda k: k.proof(post, url, padding="x" * 9000),
        "two DPoP headers": lambda k: [k.proof(post, url), k.proof(post, url)],
    }


@pytest.mark.parametrize("case", sorted(_bad_proofs()))
def test_a_bad_proof_is_400_invalid_dpop_proof(
    http: TestClient, registered: tuple[str, str], key: DPoPKey, case: str
) -> None:
    """§4.3 (each check), §5: `invalid_dpop_proof`, never a 500."""
    response = client_credentials(http, registered, _bad_proofs()[case](key))
    assert_oauth_error(response, 400, "invalid_dpop_proof")


def test_a_proof_is_accepted_once(
    http: TestClient, registered: tuple[str, str], key: DPoPKey
) -> None:
    """§11.1: a proof's `jti` is single use within its window."""
    proof = key.proof("POST", TOKEN_URL)
    assert client_credentials(http, registered, proof).status_code == 200
    assert_oauth_error(client_credentials(http, registered, proof), 400, "invalid_dpop_proof")


def test_htu_is_compared_after_normalization(
    http: TestClient, registered: tuple[str, str], key: DPoPKey
) -> None:
    """§4.3: syntax- and scheme-based normalization (RFC 3986 §6.2.2, §6.2.3)."""
    for htu in ("HTTP://127.0.0.1:8000/token", "http://127.0.0.1:8000/./token?x=1#f"):
        response = client_credentials(http, registered, key.proof("POST", htu))
        assert response.status_code == 200, (htu, response.text)


def test_a_client_that_requires_dpop_is_refused_without_a_proof(
    http: TestClient, database: Database, key: DPoPKey
) -> None:
    """§5.2 (`dpop_bound_access_tokens`, our `--require-dpop`): no Bearer tokens for it."""
    client, secret = make_client(database, require_dpop=True)
    assert secret is not None
    credentials = (client.client_id, secret)
    assert_oauth_error(client_credentials(http, credentials), 400, "invalid_dpop_proof")
    response = client_credentials(http, credentials, key.proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


def test_a_client_that_requires_dpop_keeps_its_refresh_token_when_it_forgets_the_proof(
    http: TestClient, database: Database, user: User, key: DPoPKey
) -> None:
    """§5.2: refused before the refresh token is spent."""
    client, secret = make_web_app(database, require_dpop=True)
    assert secret is not None
    web_app = (client.client_id, secret)
    first = redeem(http, web_app, key.proof("POST", TOKEN_URL)).json()
    refused = refresh(http, web_app, first["refresh_token"], None)
    assert_oauth_error(refused, 400, "invalid_dpop_proof")
    again = refresh(http, web_app, first["refresh_token"], key.proof("POST", TOKEN_URL))
    assert again.status_code == 200, again.text


# --- the code flow and refresh (§5, §10) ------------------------------------------


def test_a_confidential_clients_tokens_are_bound_to_each_requests_key(
    http: TestClient, web_app: tuple[str, str], key: DPoPKey, other_key: DPoPKey
) -> None:
    """§5: a confidential client's refresh token is not bound; each new access token is
    bound to the key of the refresh request's proof (and Bearer without one)."""
    first = redeem(http, web_app, key.proof("POST", TOKEN_URL)).json()
    assert first["token_type"] == "DPoP"
    assert claims_of(first["access_token"])["cnf"] == {"jkt": key.jkt}
    second = refresh(http, web_app, first["refresh_token"], other_key.proof("POST", TOKEN_URL))
    assert second.status_code == 200, second.text
    assert claims_of(second.json()["access_token"])["cnf"] == {"jkt": other_key.jkt}
    third = refresh(http, web_app, second.json()["refresh_token"], None)
    assert third.status_code == 200, third.text
    assert third.json()["token_type"] == "Bearer"


def test_a_public_clients_refresh_token_is_bound_to_the_key_it_started_with(
    http: TestClient, public_app: tuple[str, None], key: DPoPKey, other_key: DPoPKey
) -> None:
    """§5: refused with another key or none (`invalid_grant`, nothing consumed); with
    the same key the new access token is bound to it."""
    first = redeem(http, public_app, key.proof("POST", TOKEN_URL))
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]
    wrong_key = refresh(http, public_app, refresh_token, other_key.proof("POST", TOKEN_URL))
    assert_oauth_error(wrong_key, 400, "invalid_grant")
    assert_oauth_error(refresh(http, public_app, refresh_token, None), 400, "invalid_grant")
    right_key = refresh(http, public_app, refresh_token, key.proof("POST", TOKEN_URL))
    assert right_key.status_code == 200, right_key.text
    body = right_key.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    # The rotated token is bound too.
    again = refresh(http, public_app, body["refresh_token"], other_key.proof("POST", TOKEN_URL))
    assert_oauth_error(again, 400, "invalid_grant")


def test_a_public_clients_bearer_refresh_token_stays_unbound(
    http: TestClient, public_app: tuple[str, None], key: DPoPKey
) -> None:
    """A family started without a proof is not bound; a later proof binds the access token."""
    first = redeem(http, public_app, None)
    assert first.json()["token_type"] == "Bearer"
    response = refresh(
        http, public_app, first.json()["refresh_token"], key.proof("POST", TOKEN_URL)
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


def test_a_code_bound_by_dpop_jkt_is_redeemed_only_with_that_key(
    http: TestClient, public_app: tuple[str, None], key: DPoPKey, other_key: DPoPKey
) -> None:
    """§10: the code of an authorization request with `dpop_jkt` (set at /authorize)."""
    pkce = Pkce()
    code = code_of(http, public_app[0], pkce, dpop_jkt=key.jkt)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://app.example.test/callback",
        "code_verifier": pkce.verifier,
    }
    wrong = token_request(http, *public_app, other_key.proof("POST", TOKEN_URL), **form)
    assert_oauth_error(wrong, 400, "invalid_grant")
    assert_oauth_error(token_request(http, *public_app, None, **form), 400, "invalid_grant")
    right = token_request(http, *public_app, key.proof("POST", TOKEN_URL), **form)
    assert right.status_code == 200, right.text
    assert claims_of(right.json()["access_token"])["cnf"] == {"jkt": key.jkt}


def test_an_exchanged_token_is_bound_to_the_exchange_requests_key(
    http: TestClient, database: Database, web_app: tuple[str, str], key: DPoPKey
) -> None:
    """§5: every grant, RFC 8693 token exchange too."""
    service, secret = make_client(
        database,
        grant_types=[TOKEN_EXCHANGE],
        scope="",
        audiences=[],
        token_exchange_audiences=["https://billing.example.test"],
    )
    assert secret is not None
    subject = redeem(http, web_app, None).json()["access_token"]
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": "https://billing.example.test",
    }
    response = token_request(http, service.client_id, secret, key.proof("POST", TOKEN_URL), **form)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}


# --- /userinfo (§7) -----------------------------------------------------------------


def test_userinfo_accepts_a_bound_token_with_a_proof_of_its_key(
    http: TestClient, bound_tokens: dict[str, Any], key: DPoPKey
) -> None:
    token = bound_tokens["access_token"]
    for method in ("GET", "POST"):
        proof = key.proof(method, USERINFO_URL, access_token=token)
        response = userinfo(http, "DPoP", token, proof, method)
        assert response.status_code == 200, response.text
        assert response.json()["sub"]


def _bad_resource_requests() -> dict[
    str, Callable[[DPoPKey, DPoPKey, str], tuple[str, str | None]]
]:
    """(scheme, proof) for a request of the token bound to the first key."""
    return {
        "a proof for another URL": lambda k, o, t: (
            "DPoP",
            k.proof("GET", f"{ISSUER}/other", access_token=t),
        ),
        "a proof for another method": lambda k, o, t: (
            "DPoP",
            k.proof("POST", USERINFO_URL, access_token=t),
        ),
        "a proof with another token's ath": lambda k, o, t: (
            "DPoP",
            k.proof("GET", USERINFO_URL, access_token=t + "x"),
        ),
        "a proof without ath": lambda k, o, t: ("DPoP", k.proof("GET", USERINFO_URL)),
        "no proof": lambda k, o, t: ("DPoP", None),
    }


@pytest.mark.parametrize("case", sorted(_bad_resource_requests()))
def test_userinfo_refuses_a_proof_that_does_not_fit_the_request(
    http: TestClient, bound_tokens: dict[str, Any], key: DPoPKey, other_key: DPoPKey, case: str
) -> None:
    """§4.3, §7.1: 401 `invalid_dpop_proof` with a DPoP challenge naming the algorithms."""
    token = bound_tokens["access_token"]
    scheme, proof = _bad_resource_requests()[case](key, other_key, token)
    response = userinfo(http, scheme, token, proof)
    assert_oauth_error(response, 401, "invalid_dpop_proof")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"'), challenge
    assert 'algs="ES256 EdDSA PS256 RS256"' in challenge


def test_userinfo_refuses_a_replayed_proof(
    http: TestClient, bound_tokens: dict[str, Any], key: DPoPKey
) -> None:
    """§11.1."""
    token = bound_tokens["access_token"]
    proof = key.proof("GET", USERINFO_URL, access_token=token)
    assert userinfo(http, "DPoP", token, proof).status_code == 200
    assert_oauth_error(userinfo(http, "DPoP", token, proof), 401, "invalid_dpop_proof")


def test_userinfo_refuses_a_proof_of_another_key(
    http: TestClient, bound_tokens: dict[str, Any], other_key: DPoPKey
) -> None:
    """§4.3 step 12, §7.1 Figure 16: the key is not the token's: `invalid_token`."""
    token = bound_tokens["access_token"]
    response = userinfo(
        http, "DPoP", token, other_key.proof("GET", USERINFO_URL, access_token=token)
    )
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_userinfo_refuses_a_bound_token_sent_as_bearer(
    http: TestClient, bound_tokens: dict[str, Any], key: DPoPKey
) -> None:
    """§7.2: a DPoP-bound token is never accepted as a bearer token."""
    token = bound_tokens["access_token"]
    response = userinfo(http, "Bearer", token, key.proof("GET", USERINFO_URL, access_token=token))
    assert_oauth_error(response, 401, "invalid_token")
    challenges = response.headers.get_list("www-authenticate")
    assert challenges[0].startswith('Bearer error="invalid_token"'), challenges
    assert challenges[1].startswith("DPoP algs="), challenges


def test_userinfo_still_takes_a_plain_bearer_token(
    http: TestClient, web_app: tuple[str, str], key: DPoPKey
) -> None:
    token = redeem(http, web_app, None).json()["access_token"]
    assert userinfo(http, "Bearer", token).status_code == 200
    # The DPoP scheme is for bound tokens only.
    proof = key.proof("GET", USERINFO_URL, access_token=token)
    assert_oauth_error(userinfo(http, "DPoP", token, proof), 401, "invalid_token")


# --- server nonces (§8, §9) -------------------------------------------------------


@pytest.fixture
def nonce_http(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, dpop_nonce_required=True
    )
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        yield client


def test_the_token_endpoint_asks_for_its_nonce_then_accepts_it(
    nonce_http: TestClient, registered: tuple[str, str], key: DPoPKey
) -> None:
    """§8: 400 `use_dpop_nonce` with `DPoP-Nonce`; the retry with it succeeds and brings
    the next nonce (§8.2); a made-up nonce is refused the same way."""
    challenge = client_credentials(nonce_http, registered, key.proof("POST", TOKEN_URL))
    assert_oauth_error(challenge, 400, "use_dpop_nonce")
    nonce = challenge.headers["dpop-nonce"]
    made_up = client_credentials(
        nonce_http, registered, key.proof("POST", TOKEN_URL, nonce="made-up")
    )
    assert_oauth_error(made_up, 400, "use_dpop_nonce")
    response = client_credentials(nonce_http, registered, key.proof("POST", TOKEN_URL, nonce=nonce))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert response.headers["dpop-nonce"]
    # A bad proof is still `invalid_dpop_proof`, nonce or not.
    bad = client_credentials(nonce_http, registered, key.proof("GET", TOKEN_URL, nonce=nonce))
    assert_oauth_error(bad, 400, "invalid_dpop_proof")


def test_userinfo_asks_for_the_nonce_then_accepts_it(
    nonce_http: TestClient, web_app: tuple[str, str], key: DPoPKey
) -> None:
    """§9: 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and `DPoP-Nonce`."""
    challenge = redeem(nonce_http, web_app, key.proof("POST", TOKEN_URL))
    nonce = challenge.headers["dpop-nonce"]
    tokens = redeem(nonce_http, web_app, key.proof("POST", TOKEN_URL, nonce=nonce)).json()
    token = tokens["access_token"]
    refused = userinfo(
        nonce_http, "DPoP", token, key.proof("GET", USERINFO_URL, access_token=token)
    )
    assert_oauth_error(refused, 401, "use_dpop_nonce")
    assert refused.headers["www-authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = refused.headers["dpop-nonce"]
    proof = key.proof("GET", USERINFO_URL, access_token=token, nonce=nonce)
    response = userinfo(nonce_http, "DPoP", token, proof)
    assert response.status_code == 200, response.text
    assert response.headers["dpop-nonce"]


# --- introspection (§6.2) and discovery (§5.1) -------------------------------------


def test_introspection_shows_the_key_a_token_is_bound_to(
    http: TestClient, database: Database, registered: tuple[str, str], key: DPoPKey
) -> None:
    """§6.2: `cnf.jkt`, and `token_type` DPoP."""
    introspector, secret = make_client(database, can_introspect=True)
    assert secret is not None
    token = client_credentials(http, registered, key.proof("POST", TOKEN_URL)).json()
    response = http.post(
        "/introspect",
        data={"token": token["access_token"]},
        headers=basic(introspector.client_id, secret),
    )
    body = response.json()
    assert body["active"] is True
    assert body["cnf"] == {"jkt": key.jkt}
    assert body["token_type"] == "DPoP"


def test_discovery_names_the_proof_algorithms(http: TestClient) -> None:
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA", "PS256", "RS256"]


def test_a_browser_may_send_a_proof_and_read_the_nonce(http: TestClient) -> None:
    """§7.1, §8: CORS allows the `DPoP` header and exposes `DPoP-Nonce`."""
    preflight = http.options(
        "/token",
        headers={
            "Origin": "https://spa.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "dpop",
        },
    )
    assert "DPoP" in preflight.headers["access-control-allow-headers"].split(", ")
    answer = http.post("/token", headers={"Origin": "https://spa.example.test"})
    assert "DPoP-Nonce" in answer.headers["access-control-expose-headers"].split(", ")
