"""The introspection mode without a server (RFC 7662): what it sends, accepts and caches."""

import asyncio
import base64
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from authserver.resource import Introspector, InvalidToken, IssuerUnavailable
from tests.resource.mock_issuer import AUDIENCE, INTROSPECTION_PATH, ISSUER, MockIssuer

TOKEN = "opaque-or-jwt.token_value~1"


def active(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    answer = {
        "active": True,
        "iss": ISSUER,
        "sub": "u1",
        "aud": AUDIENCE,
        "client_id": "web",
        "scope": "orders:read",
        "exp": now + 86400,  # built at collection: still valid however long the suite runs
        "iat": now,
        "jti": "j1",
        "token_type": "Bearer",
        **changes,
    }
    return {name: value for name, value in answer.items() if value is not None}


@pytest.fixture
def http(mock_issuer: MockIssuer) -> Iterator[httpx.Client]:
    with mock_issuer.client() as client:
        yield client


def introspector(http: httpx.Client, **options: Any) -> Introspector:
    values: dict[str, Any] = {"audience": AUDIENCE, "http": http, **options}
    return Introspector(ISSUER, "orders api", "s3cret:/&", **values)


def introspections(mock: MockIssuer) -> int:
    return mock.requests[INTROSPECTION_PATH]


def test_an_active_token_gives_its_claims(mock_issuer: MockIssuer, http: httpx.Client) -> None:
    mock_issuer.introspection_answer = active()
    claims = introspector(http).verify(TOKEN)
    assert (claims.sub, claims.client_id, claims.scopes) == ("u1", "web", {"orders:read"})
    assert "active" not in claims


def test_the_request_is_rfc_7662_with_http_basic(
    mock_issuer: MockIssuer, http: httpx.Client
) -> None:
    mock_issuer.introspection_answer = active()
    introspector(http).verify(TOKEN)

    request = next(r for r in mock_issuer.seen if r.url.path == INTROSPECTION_PATH)
    assert request.method == "POST"
    form = parse_qs(request.content.decode())
    assert form == {"token": [TOKEN], "token_type_hint": ["access_token"]}
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    # RFC 6749 §2.3.1: form-urlencoded, then Basic.
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == "orders+api:s3cret%3A%2F%26"


def test_an_active_answer_is_cached_for_cache_ttl(
    mock_issuer: MockIssuer, http: httpx.Client
) -> None:
    mock_issuer.introspection_answer = active()
    cached = introspector(http, cache_ttl=timedelta(seconds=60))
    for _ in range(5):
        cached.verify(TOKEN)
    assert introspections(mock_issuer) == 1

    uncached = introspector(http, cache_ttl=timedelta(0))
    for _ in range(3):
        uncached.verify(TOKEN)
    assert introspections(mock_issuer) == 4


def test_an_answer_is_never_cached_past_the_tokens_exp(
    mock_issuer: MockIssuer, http: httpx.Client
) -> None:
    # At least 2 s ahead (int() rounds down), so that the first answer is still valid on a
    # loaded machine; the test waits for it to pass.
    exp = int(time.time()) + 3
    mock_issuer.introspection_answer = active(exp=exp)
    cached = introspector(http, cache_ttl=timedelta(hours=1))
    cached.verify(TOKEN)

    mock_issuer.introspection_answer = {"active": False}
    while time.time() < exp:
        time.sleep(0.05)
    with pytest.raises(InvalidToken, match="not active"):
        cached.verify(TOKEN)
    assert introspections(mock_issuer) == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"active": False}, "not active"),
        ({"active": "true"}, "not active"),
        ({}, "not active"),
        (active(token_type="refresh_token"), "not an access token"),
        (active(iss="https://evil.example.test"), "issuer"),
        (active(aud="https://profile.example.test"), "aud"),
        (active(aud=None), "aud"),
        (active(exp=int(time.time()) - 1), "expired"),
        (active(exp="soon"), "expired"),
        (active(scope=["orders:read"]), "scope"),
    ],
)
def test_an_inactive_or_unsuitable_answer_is_invalid_token(
    mock_issuer: MockIssuer, http: httpx.Client, answer: dict[str, Any], reason: str
) -> None:
    mock_issuer.introspection_answer = answer
    checker = introspector(http)
    for _ in range(2):  # the refusal is cached too
        with pytest.raises(InvalidToken, match=reason):
            checker.verify(TOKEN)
    assert introspections(mock_issuer) == 1


def test_without_an_audience_any_audience_is_accepted(
    mock_issuer: MockIssuer, http: httpx.Client
) -> None:
    mock_issuer.introspection_answer = active(aud=["https://a.test", "https://b.test"])
    assert introspector(http, audience=None).verify(TOKEN).aud == (
        "https://a.test",
        "https://b.test",
    )


@pytest.mark.parametrize("token", ["", "a b", "x" * 8193, 'a"b', "tok\n"])
def test_a_token_that_cannot_be_a_bearer_token_is_refused_without_asking(
    mock_issuer: MockIssuer, http: httpx.Client, token: str
) -> None:
    with pytest.raises(InvalidToken):
        introspector(http).verify(token)
    assert sum(mock_issuer.requests.values()) == 0


@pytest.mark.parametrize("status", [401, 500])
def test_a_failing_endpoint_makes_the_issuer_unavailable_not_the_token_invalid(
    mock_issuer: MockIssuer, http: httpx.Client, status: int
) -> None:
    mock_issuer.introspection_status = status
    mock_issuer.introspection_answer = {"error": "invalid_client"}
    with pytest.raises(IssuerUnavailable):
        introspector(http).verify(TOKEN)


def test_the_issuer_down_makes_it_unavailable(mock_issuer: MockIssuer, http: httpx.Client) -> None:
    mock_issuer.down = True
    with pytest.raises(IssuerUnavailable):
        introspector(http).verify(TOKEN)


def test_the_endpoint_is_discovered_once_or_configured(
    mock_issuer: MockIssuer, http: httpx.Client
) -> None:
    mock_issuer.introspection_answer = active()
    discovered = introspector(http, cache_ttl=timedelta(0))
    discovered.verify(TOKEN)
    discovered.verify(TOKEN)
    assert mock_issuer.requests["/.well-known/openid-configuration"] == 1

    configured = introspector(http, endpoint=f"{ISSUER}{INTROSPECTION_PATH}")
    configured.verify(TOKEN + "2")
    assert mock_issuer.requests["/.well-known/openid-configuration"] == 1
    assert introspections(mock_issuer) == 3


def test_the_async_path_introspects_and_caches_too(mock_issuer: MockIssuer) -> None:
    mock_issuer.introspection_answer = active()

    async def verify_twice() -> list[str]:
        async with mock_issuer.async_client() as client:
            checker = Introspector(
                ISSUER, "orders-api", "secret", audience=AUDIENCE, async_http=client
            )
            return [(await checker.averify(TOKEN)).sub for _ in range(2)]

    assert asyncio.run(verify_twice()) == ["u1", "u1"]
    assert introspections(mock_issuer) == 1
