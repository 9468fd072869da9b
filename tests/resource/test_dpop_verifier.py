"""DPoP-bound tokens at a resource service (RFC 9449 §7): `Verifier.verify_request`, the
`Introspector`'s, and the FastAPI dependency, with an in-memory issuer."""

import asyncio
import time
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from authserver.resource import Claims, Introspector, InvalidDPoPProof, InvalidToken, Verifier
from authserver.resource.fastapi import install_error_handler, require_scopes
from tests.dpop_proofs import DPoPKey
from tests.resource.forge import HEADER, access_claims, rs256
from tests.resource.mock_issuer import AUDIENCE, ISSUER, MockIssuer

URL = "https://orders.example.test/orders"
ALGS = 'algs="ES256 EdDSA PS256 RS256"'


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


@pytest.fixture(scope="module")
def other_key() -> DPoPKey:
    return DPoPKey.generate()


def bound_token(issuer_key: RSAKey, dpop_key: DPoPKey, **claims: Any) -> str:
    """An access token whose `cnf.jkt` names `dpop_key` (§6.1)."""
    claims = access_claims(ISSUER, AUDIENCE, cnf={"jkt": dpop_key.jkt}, **claims)
    return rs256({**HEADER, "kid": issuer_key.kid}, claims, issuer_key)


def bearer_token(issuer_key: RSAKey) -> str:
    return rs256({**HEADER, "kid": issuer_key.kid}, access_claims(ISSUER, AUDIENCE), issuer_key)


def test_a_bound_token_with_a_proof_of_its_key_is_accepted_once(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """§7.1, §4.3; §11.1: the same proof a second time is refused."""
    token = bound_token(issuer_key, key)
    proof = key.proof("GET", URL, access_token=token)
    claims = verifier.verify_request(f"DPoP {token}", proof, "GET", URL)
    assert claims["cnf"] == {"jkt": key.jkt}
    with pytest.raises(InvalidDPoPProof, match="already used") as replayed:
        verifier.verify_request(f"DPoP {token}", proof, "GET", URL)
    assert replayed.value.www_authenticate.startswith('DPoP error="invalid_dpop_proof"')
    assert ALGS in replayed.value.www_authenticate


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
def test_every_proof_algorithm_is_accepted(
    verifier: Verifier, issuer_key: RSAKey, alg: str
) -> None:
    dpop_key = DPoPKey.generate(alg)
    token = bound_token(issuer_key, dpop_key)
    proof = dpop_key.proof("POST", URL, access_token=token)
    assert verifier.verify_request([f"DPoP {token}"], [proof], "POST", URL).sub


def test_the_url_is_compared_normalized_and_without_its_query(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """§4.3 step 9: RFC 3986 §6.2.2 and §6.2.3 normalization, query and fragment ignored."""
    token = bound_token(issuer_key, key)
    proof = key.proof("GET", "HTTPS://Orders.Example.TEST:443/orders", access_token=token)
    assert verifier.verify_request(f"DPoP {token}", proof, "GET", f"{URL}?page=2")


def _refusals() -> dict[str, Any]:
    """What each bad request changes: (scheme, proof maker, expected error)."""
    return {
        "a proof for another URL": (
            "DPoP",
            lambda k, o, t: k.proof("GET", "https://orders.example.test/admin", access_token=t),
            InvalidDPoPProof,
        ),
        "a proof for another method": (
            "DPoP",
            lambda k, o, t: k.proof("POST", URL, access_token=t),
            InvalidDPoPProof,
        ),
        "a wrong ath": (
            "DPoP",
            lambda k, o, t: k.proof("GET", URL, access_token="x"),
            InvalidDPoPProof,
        ),
        "no ath": ("DPoP", lambda k, o, t: k.proof("GET", URL), InvalidDPoPProof),
        "no proof": ("DPoP", lambda k, o, t: None, InvalidDPoPProof),
        "two proofs": (
            "DPoP",
            lambda k, o, t: [k.proof("GET", URL, access_token=t)] * 2,
            InvalidDPoPProof,
        ),
        "an old proof": (
            "DPoP",
            lambda k, o, t: k.proof("GET", URL, access_token=t, iat=int(time.time()) - 600),
            InvalidDPoPProof,
        ),
        "a proof of another key": (
            "DPoP",
            lambda k, o, t: o.proof("GET", URL, access_token=t),
            InvalidToken,
        ),
        "the bound token sent as Bearer": (
            "Bearer",
            lambda k, o, t: k.proof("GET", URL, access_token=t),
            InvalidToken,
        ),
    }


@pytest.mark.parametrize("case", sorted(_refusals()))
def test_a_request_that_does_not_prove_possession_is_refused(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey, other_key: DPoPKey, case: str
) -> None:
    """§4.3, §7.1; §7.2 for the Bearer scheme (whose challenge then carries the error)."""
    scheme, make_proof, expected = _refusals()[case]
    token = bound_token(issuer_key, key)
    with pytest.raises(expected) as refused:
        verifier.verify_request(f"{scheme} {token}", make_proof(key, other_key, token), "GET", URL)
    assert type(refused.value) is expected
    challenge = refused.value.www_authenticate
    assert challenge.startswith(f'{scheme} error="{expected.error}"'), challenge


def test_a_bound_token_is_never_a_bearer_token(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """§7.2: `verify` (a bearer token) refuses it, sync and async."""
    token = bound_token(issuer_key, key)
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        verifier.verify(token)
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        asyncio.run(verifier.averify(token))


def test_bearer_tokens_work_as_before_and_not_with_the_dpop_scheme(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey
) -> None:
    token = bearer_token(issuer_key)
    assert verifier.verify_request(f"Bearer {token}", None, "GET", URL).sub
    proof = key.proof("GET", URL, access_token=token)
    with pytest.raises(InvalidToken, match="not DPoP-bound") as refused:
        verifier.verify_request(f"DPoP {token}", proof, "GET", URL)
    assert refused.value.www_authenticate.startswith("DPoP ")
    with pytest.raises(InvalidToken, match="no Bearer or DPoP"):
        verifier.verify_request(None, proof, "GET", URL)


def test_an_invalid_token_with_the_dpop_scheme_gets_a_dpop_challenge(
    verifier: Verifier, issuer_key: RSAKey, key: DPoPKey
) -> None:
    token = bound_token(issuer_key, key, exp=int(time.time()) - 3600)
    proof = key.proof("GET", URL, access_token=token)
    with pytest.raises(InvalidToken, match="expired") as refused:
        verifier.verify_request(f"DPoP {token}", proof, "GET", URL)
    assert refused.value.www_authenticate.startswith('DPoP error="invalid_token"')


def test_the_replay_memory_is_bounded(
    mock_issuer: MockIssuer, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """§11.1, `SeenProofs`: when full, a new proof is refused, never an old one forgotten."""
    with mock_issuer.client() as http:
        verifier = Verifier(ISSUER, AUDIENCE, http=http, dpop_max_proofs=1)
        token = bound_token(issuer_key, key)
        first = key.proof("GET", URL, access_token=token)
        verifier.verify_request(f"DPoP {token}", first, "GET", URL)
        with pytest.raises(InvalidDPoPProof):
            verifier.verify_request(
                f"DPoP {token}", key.proof("GET", URL, access_token=token), "GET", URL
            )


class SharedProofs:
    """A replay store shared by a fleet (a dict here; Redis `SET NX EXAT` in docs/dpop.md)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def first_use(self, key: str, expires_at: int, now: int) -> bool:
        if self.seen.get(key, 0) > now:
            return False
        self.seen[key] = expires_at
        return True


def test_replicas_sharing_a_replay_store_refuse_each_others_proofs(
    mock_issuer: MockIssuer, issuer_key: RSAKey, key: DPoPKey
) -> None:
    shared = SharedProofs()
    with mock_issuer.client() as http:
        one = Verifier(ISSUER, AUDIENCE, http=http, dpop_replay=shared)
        two = Verifier(ISSUER, AUDIENCE, http=http, dpop_replay=shared)
        token = bound_token(issuer_key, key)
        proof = key.proof("GET", URL, access_token=token)
        one.verify_request(f"DPoP {token}", proof, "GET", URL)
        with pytest.raises(InvalidDPoPProof, match="already used"):
            two.verify_request(f"DPoP {token}", proof, "GET", URL)
    assert len(shared.seen) == 1


def test_the_dpop_options_are_checked(mock_issuer: MockIssuer) -> None:
    with mock_issuer.client() as http:
        for options in (
            {"dpop_algorithms": ("HS256",)},
            {"dpop_algorithms": ()},
            {"dpop_max_age": 0},
            {"dpop_max_age": 3600},
            {"dpop_max_proofs": 0},
        ):
            with pytest.raises(ValueError, match="dpop"):
                Verifier(ISSUER, AUDIENCE, http=http, **options)


def test_the_introspector_checks_the_proof_against_the_answers_cnf(
    mock_issuer: MockIssuer, key: DPoPKey, other_key: DPoPKey
) -> None:
    """§6.2: the answer's `cnf.jkt` and `token_type` DPoP; the same rules as the verifier."""
    now = int(time.time())
    mock_issuer.introspection_answer = {
        "active": True,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u1",
        "scope": "orders:read",
        "exp": now + 600,
        "token_type": "DPoP",
        "cnf": {"jkt": key.jkt},
    }
    token = "opaque-token-value"
    with mock_issuer.client() as http:
        introspector = Introspector(ISSUER, "orders", "secret", audience=AUDIENCE, http=http)
        proof = key.proof("GET", URL, access_token=token)
        assert introspector.verify_request(f"DPoP {token}", proof, "GET", URL).sub == "u1"
        with pytest.raises(InvalidToken, match="DPoP-bound"):
            introspector.verify(token)
        wrong = other_key.proof("GET", URL, access_token=token)
        with pytest.raises(InvalidToken, match="token's key"):
            introspector.verify_request(f"DPoP {token}", wrong, "GET", URL)


# --- the FastAPI dependency ---------------------------------------------------------


def orders_app(verifier: Verifier, base_url: str | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handler(app)
    reader = require_scopes(verifier, "orders:read", base_url=base_url)
    writer = require_scopes(verifier, "orders:write", base_url=base_url)

    @app.get("/orders")
    async def orders(claims: Annotated[Claims, Depends(reader)]) -> dict[str, Any]:
        return {"sub": claims.sub}

    @app.post("/orders")
    async def place(claims: Annotated[Claims, Depends(writer)]) -> dict[str, Any]:
        return {"sub": claims.sub}

    return app


@pytest.fixture
def client(mock_issuer: MockIssuer) -> Iterator[TestClient]:
    verifier = Verifier(ISSUER, AUDIENCE, async_http=mock_issuer.async_client())
    with verifier, TestClient(orders_app(verifier), base_url="https://orders.example.test") as http:
        yield http


def dpop_headers(token: str, proof: str | None) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


def test_the_dependency_accepts_a_proof_for_the_request(
    client: TestClient, issuer_key: RSAKey, key: DPoPKey
) -> None:
    token = bound_token(issuer_key, key)
    proof = key.proof("GET", URL, access_token=token)
    response = client.get("/orders", headers=dpop_headers(token, proof))
    assert response.status_code == 200, response.text
    replayed = client.get("/orders", headers=dpop_headers(token, proof))
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"
    assert replayed.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_the_dependency_refuses_the_bound_token_as_bearer(
    client: TestClient, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """§7.2."""
    token = bound_token(issuer_key, key)
    response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_the_dependency_answers_a_missing_scope_in_the_dpop_scheme(
    client: TestClient, issuer_key: RSAKey, key: DPoPKey
) -> None:
    token = bound_token(issuer_key, key)
    proof = key.proof("POST", URL, access_token=token)
    response = client.post("/orders", headers=dpop_headers(token, proof))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP error="insufficient_scope"'), challenge
    assert 'scope="orders:write"' in challenge and ALGS in challenge


def test_behind_a_proxy_the_base_url_is_what_proofs_name(
    mock_issuer: MockIssuer, issuer_key: RSAKey, key: DPoPKey
) -> None:
    """The proxy forwards https://api.example.test/orders-service/orders as
    http://internal:8080/orders: `base_url` says what the client called (§4.3 step 9)."""
    external = "https://api.example.test/orders-service"
    verifier = Verifier(ISSUER, AUDIENCE, async_http=mock_issuer.async_client())
    app = orders_app(verifier, base_url=external)
    with verifier, TestClient(app, base_url="http://internal:8080") as http:
        token = bound_token(issuer_key, key)
        good = key.proof("GET", f"{external}/orders", access_token=token)
        assert http.get("/orders", headers=dpop_headers(token, good)).status_code == 200
        internal = key.proof("GET", "http://internal:8080/orders", access_token=token)
        refused = http.get("/orders", headers=dpop_headers(token, internal))
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_dpop_proof"


def test_the_dependency_still_takes_bearer_tokens(client: TestClient, issuer_key: RSAKey) -> None:
    headers = {"Authorization": f"Bearer {bearer_token(issuer_key)}"}
    assert client.get("/orders", headers=headers).status_code == 200
    assert client.get("/orders").headers["www-authenticate"] == "Bearer"


@pytest.fixture
def async_http(mock_issuer: MockIssuer) -> Iterator[httpx.AsyncClient]:
    yield mock_issuer.async_client()


def test_averify_request_is_verify_request_without_blocking(
    mock_issuer: MockIssuer, issuer_key: RSAKey, key: DPoPKey, async_http: httpx.AsyncClient
) -> None:
    verifier = Verifier(ISSUER, AUDIENCE, async_http=async_http)
    token = bound_token(issuer_key, key)
    proof = key.proof("GET", URL, access_token=token)

    async def twice() -> None:
        assert (await verifier.averify_request(f"DPoP {token}", proof, "GET", URL)).sub
        with pytest.raises(InvalidDPoPProof):
            await verifier.averify_request(f"DPoP {token}", proof, "GET", URL)

    asyncio.run(twice())
