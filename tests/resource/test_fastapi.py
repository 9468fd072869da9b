"""The FastAPI dependency: RFC 6750 §3 answers for no token, a bad one, a weak one, a good one."""

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from authserver.resource import Claims, Introspector, Verifier
from authserver.resource.fastapi import install_error_handler, require_scopes, require_token
from tests.resource.forge import HEADER, access_claims, rs256
from tests.resource.mock_issuer import AUDIENCE, ISSUER, MockIssuer


def orders_app(verifier: Verifier | Introspector, *, error_handler: bool = True) -> FastAPI:
    app = FastAPI()
    if error_handler:
        install_error_handler(app)

    @app.get("/orders")
    def orders(claims: Claims = Depends(require_scopes(verifier, "orders:read"))) -> Any:  # noqa: B008
        return {"sub": claims.sub, "scope": sorted(claims.scopes)}

    @app.post("/orders")
    async def create_order(
        claims: Annotated[Claims, Depends(require_scopes(verifier, "orders:write"))],
    ) -> Any:
        return {"created_by": claims.client_id}

    @app.get("/me")
    def me(claims: Annotated[Claims, Depends(require_token(verifier))]) -> Any:
        return {"sub": claims.sub}

    return app


@pytest.fixture
def async_http(mock_issuer: MockIssuer) -> Iterator[httpx.AsyncClient]:
    # TestClient runs the app in its own event loop; a MockTransport has no loop to bind to.
    yield mock_issuer.async_client()


@pytest.fixture
def client(async_http: httpx.AsyncClient) -> Iterator[TestClient]:
    verifier = Verifier(ISSUER, AUDIENCE, async_http=async_http)
    with verifier, TestClient(orders_app(verifier)) as test_client:
        yield test_client


def bearer(key: RSAKey, **claims: Any) -> dict[str, str]:
    token = rs256({**HEADER, "kid": key.kid}, access_claims(ISSUER, AUDIENCE, **claims), key)
    return {"Authorization": f"Bearer {token}"}


def test_a_good_token_with_the_scope_gets_the_resource(
    client: TestClient, issuer_key: RSAKey
) -> None:
    response = client.get("/orders", headers=bearer(issuer_key, scope="orders:read openid"))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "service-client", "scope": ["openid", "orders:read"]}
    assert client.get("/me", headers=bearer(issuer_key, scope=None)).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YTpi"}])
def test_no_bearer_token_is_401_with_a_bare_challenge(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/orders", headers=headers)
    assert response.status_code == 401
    # RFC 6750 §3.1: no error code when the request carried no authentication.
    assert response.headers["www-authenticate"] == "Bearer"
    assert "error" not in response.json()


@pytest.mark.parametrize(
    "token_of",
    [
        lambda key: "not-a-token",
        lambda key: bearer(key, exp=1)["Authorization"].removeprefix("Bearer "),
        lambda key: bearer(key, aud="https://profile.example.test")["Authorization"][7:],
    ],
    ids=["garbage", "expired", "another audience"],
)
def test_a_bad_token_is_401_invalid_token(
    client: TestClient, issuer_key: RSAKey, token_of: Any
) -> None:
    response = client.get("/orders", headers={"Authorization": f"Bearer {token_of(issuer_key)}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="invalid_token", error_description="'
    )
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_token" and body["error_description"]


def test_a_token_without_the_scope_is_403_insufficient_scope(
    client: TestClient, issuer_key: RSAKey
) -> None:
    response = client.post("/orders", headers=bearer(issuer_key, scope="orders:read"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", '
        'error_description="the request needs the scope orders:write", scope="orders:write"'
    )
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "the request needs the scope orders:write",
    }


@pytest.mark.parametrize(
    "headers",
    [[("Authorization", "Bearer")], [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]],
)
def test_a_malformed_authorization_header_is_400_invalid_request(
    client: TestClient, headers: list[tuple[str, str]]
) -> None:
    response = client.get("/orders", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_request"')


def test_without_the_error_handler_fastapi_answers_detail_with_the_same_status_and_challenge(
    async_http: httpx.AsyncClient, issuer_key: RSAKey
) -> None:
    verifier = Verifier(ISSUER, AUDIENCE, async_http=async_http)
    with verifier, TestClient(orders_app(verifier, error_handler=False)) as plain:
        missing = plain.get("/orders")
        weak = plain.post("/orders", headers=bearer(issuer_key))
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    assert weak.status_code == 403
    assert weak.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert weak.json() == {"detail": "the request needs the scope orders:write"}


def test_when_the_issuer_cannot_be_reached_the_answer_is_503_not_401(
    mock_issuer: MockIssuer, client: TestClient, issuer_key: RSAKey
) -> None:
    mock_issuer.down = True
    response = client.get("/orders", headers=bearer(issuer_key))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"] == "temporarily_unavailable"


def test_an_introspector_protects_an_endpoint_the_same_way(
    mock_issuer: MockIssuer, async_http: httpx.AsyncClient
) -> None:
    mock_issuer.introspection_answer = {
        "active": True,
        "aud": AUDIENCE,
        "sub": "u1",
        "client_id": "web",
        "scope": "orders:read",
    }
    introspector = Introspector(ISSUER, "api", "secret", audience=AUDIENCE, async_http=async_http)
    with introspector, TestClient(orders_app(introspector)) as client:
        allowed = client.get("/orders", headers={"Authorization": "Bearer opaque-token"})
        refused = client.post("/orders", headers={"Authorization": "Bearer opaque-token"})
    assert allowed.status_code == 200 and allowed.json()["sub"] == "u1"
    assert refused.status_code == 403
