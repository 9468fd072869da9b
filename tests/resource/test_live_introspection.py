"""Introspection mode and the FastAPI dependency against a real `authserver serve`."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from authserver.resource import Claims, Introspector, InvalidToken, IssuerUnavailable, Verifier
from authserver.resource.fastapi import install_error_handler, require_scopes
from tests.factories import SERVICE_AUDIENCE, make_client
from tests.resource.conftest import CountingTransport, LiveIssuer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service_credentials(live_issuer: LiveIssuer) -> tuple[str, str]:
    """A resource service registered with `--introspect`: it may introspect every token."""
    client, secret = make_client(live_issuer.database, name="Orders API", can_introspect=True)
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def transport() -> Iterator[CountingTransport]:
    transport = CountingTransport()
    yield transport
    transport.close()


def introspector(
    live: LiveIssuer, credentials: tuple[str, str], transport: CountingTransport, **options: Any
) -> Introspector:
    values: dict[str, Any] = {"audience": SERVICE_AUDIENCE, **options}
    http = httpx.Client(transport=transport)
    return Introspector(live.base_url, *credentials, http=http, **values)


def revoke(live: LiveIssuer, token: str) -> None:
    response = httpx.post(
        f"{live.base_url}/revoke", data={"token": token}, auth=(live.client_id, live.secret)
    )
    assert response.status_code == 200, response.text


def test_an_active_token_is_accepted_and_the_answer_cached(
    live_issuer: LiveIssuer, service_credentials: tuple[str, str], transport: CountingTransport
) -> None:
    checker = introspector(live_issuer, service_credentials, transport)
    token = live_issuer.access_token("orders:read orders:write")

    for _ in range(3):
        claims = checker.verify(token)

    assert claims.client_id == claims.sub == live_issuer.client_id
    assert claims.scopes == {"orders:read", "orders:write"}
    assert claims.aud == (SERVICE_AUDIENCE,)
    assert transport.paths["/introspect"] == 1


def test_without_a_cache_a_revocation_is_seen_at_once(
    live_issuer: LiveIssuer, service_credentials: tuple[str, str], transport: CountingTransport
) -> None:
    uncached = introspector(live_issuer, service_credentials, transport, cache_ttl=timedelta(0))
    cached = introspector(live_issuer, service_credentials, transport)
    token = live_issuer.access_token()
    assert uncached.verify(token) and cached.verify(token)

    revoke(live_issuer, token)

    with pytest.raises(InvalidToken, match="not active"):
        uncached.verify(token)
    # A cached answer stands for at most `cache_ttl`: the price of not asking every time.
    assert cached.verify(token).client_id == live_issuer.client_id


def test_tokens_that_are_not_access_tokens_for_this_service_are_refused(
    live_issuer: LiveIssuer, service_credentials: tuple[str, str], transport: CountingTransport
) -> None:
    checker = introspector(live_issuer, service_credentials, transport)
    tokens = live_issuer.code_flow_tokens()
    refused = {
        "not an access token": tokens["refresh_token"],
        "not active": tokens["id_token"],
        "aud": live_issuer.access_token(resource=live_issuer.base_url),
    }
    for reason, token in refused.items():
        with pytest.raises(InvalidToken, match=reason):
            checker.verify(token)
    assert checker.verify(tokens["access_token"]).sub != live_issuer.client_id


def test_wrong_service_credentials_make_the_issuer_unavailable_not_the_token_invalid(
    live_issuer: LiveIssuer, service_credentials: tuple[str, str], transport: CountingTransport
) -> None:
    checker = introspector(live_issuer, (service_credentials[0], "wrong"), transport)
    with pytest.raises(IssuerUnavailable, match="refused this service"):
        checker.verify(live_issuer.access_token())


def test_the_async_path_introspects_against_the_server(
    live_issuer: LiveIssuer, service_credentials: tuple[str, str]
) -> None:
    token = live_issuer.access_token()

    async def verify() -> Claims:
        async with httpx.AsyncClient() as client:
            with Introspector(
                live_issuer.base_url,
                *service_credentials,
                audience=SERVICE_AUDIENCE,
                async_http=client,
            ) as checker:
                return await checker.averify(token)

    assert asyncio.run(verify()).client_id == live_issuer.client_id


def test_a_fastapi_service_protected_in_three_lines_accepts_and_refuses_real_tokens(
    live_issuer: LiveIssuer,
) -> None:
    app = FastAPI()
    install_error_handler(app)

    verifier = Verifier(live_issuer.base_url, audience=SERVICE_AUDIENCE)

    @app.get("/orders")
    def orders(claims: Annotated[Claims, Depends(require_scopes(verifier, "orders:read"))]) -> Any:
        return {"client_id": claims.client_id}

    code_flow = live_issuer.code_flow_tokens()
    with verifier, TestClient(app) as client:

        def get(token: str) -> httpx.Response:
            return client.get("/orders", headers={"Authorization": f"Bearer {token}"})

        good = get(live_issuer.access_token("orders:read"))
        weak = get(live_issuer.access_token("orders:write"))
        id_token = get(code_flow["id_token"])

    assert good.status_code == 200 and good.json() == {"client_id": live_issuer.client_id}
    assert weak.status_code == 403 and weak.json()["error"] == "insufficient_scope"
    assert id_token.status_code == 401 and id_token.json()["error"] == "invalid_token"
