"""The key cache without a server: freshness, refetch limits, one fetch for many callers,
stale keys while the issuer is down, and which JWKS members it trusts (RFC 7517, RFC 9111)."""

import asyncio
import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import RSAKey

from authserver.resource import InvalidToken, IssuerUnavailable
from authserver.resource.documents import FetchError
from authserver.resource.jwks import KeyCache, max_age, parse_jwks
from tests.resource.forge import b64url, new_rsa_key, public_jwk
from tests.resource.mock_issuer import ISSUER, JWKS_PATH, MockIssuer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def second_key() -> RSAKey:
    return new_rsa_key("issuer-key-2")


@pytest.fixture
def cache(mock_issuer: MockIssuer, clock: Clock) -> Iterator[KeyCache]:
    with mock_issuer.client() as http:
        yield make_cache(mock_issuer, clock, http)


def make_cache(
    mock: MockIssuer,
    clock: Clock,
    http: httpx.Client | None = None,
    async_http: httpx.AsyncClient | None = None,
    max_cache: float = 3600,
) -> KeyCache:
    return KeyCache(
        ISSUER,
        jwks_uri=None,
        max_cache=max_cache,
        min_refetch_interval=60,
        http=http,
        async_http=async_http,
        clock=clock,
    )


def test_the_jwks_is_kept_for_its_max_age_then_revalidated_with_its_etag(
    cache: KeyCache, mock_issuer: MockIssuer, issuer_key: RSAKey, clock: Clock
) -> None:
    assert cache.get("issuer-key-1").kid == "issuer-key-1"
    clock.advance(299)
    cache.get("issuer-key-1")
    assert mock_issuer.jwks_fetches == 1

    clock.advance(2)
    assert cache.get("issuer-key-1").kid == "issuer-key-1"
    clock.advance(299)
    cache.get("issuer-key-1")

    assert mock_issuer.jwks_fetches == 2
    revalidation = [r for r in mock_issuer.seen if r.url.path == JWKS_PATH][-1]
    assert revalidation.headers["if-none-match"]  # answered 304, the keys kept


def test_max_cache_bounds_a_long_max_age(mock_issuer: MockIssuer, clock: Clock) -> None:
    mock_issuer.cache_control = "max-age=86400"
    with mock_issuer.client() as http:
        cache = make_cache(mock_issuer, clock, http, max_cache=600)
        cache.get("issuer-key-1")
        clock.advance(599)
        cache.get("issuer-key-1")
        clock.advance(2)
        cache.get("issuer-key-1")
    assert mock_issuer.jwks_fetches == 2


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        ("public, max-age=300", 300),
        ('max-age="120"', 120),
        ("MAX-AGE=5, must-revalidate", 5),
        ("no-store", 0),
        ("max-age=300, no-cache", 0),
        ("private", 300),
        ("max-age=-1", 300),
        ("max-age=1e9", 300),
        (None, 300),
    ],
)
def test_max_age_is_read_as_rfc_9111_says(cache_control: str | None, seconds: float) -> None:
    assert max_age(cache_control) == seconds


def test_without_max_age_the_set_is_still_asked_for_at_most_once_a_minute(
    mock_issuer: MockIssuer, clock: Clock
) -> None:
    mock_issuer.cache_control = "no-store"
    with mock_issuer.client() as http:
        cache = make_cache(mock_issuer, clock, http)
        for _ in range(10):
            cache.get("issuer-key-1")
            clock.advance(5)
        clock.advance(20)
        cache.get("issuer-key-1")
    assert mock_issuer.jwks_fetches == 2


def test_a_flood_of_unknown_kids_fetches_once_per_interval(
    cache: KeyCache, mock_issuer: MockIssuer, clock: Clock
) -> None:
    for _ in range(1000):
        with pytest.raises(InvalidToken):
            cache.get(secrets.token_urlsafe(12))
    assert mock_issuer.jwks_fetches == 1

    clock.advance(61)
    for _ in range(1000):
        with pytest.raises(InvalidToken):
            cache.get(secrets.token_urlsafe(12))
    assert mock_issuer.jwks_fetches == 2


def test_once_the_set_expired_a_new_kid_is_fetched_at_the_issuers_pace(
    mock_issuer: MockIssuer, clock: Clock, second_key: RSAKey
) -> None:
    """A key published one max-age before it signs (docs/keys.md) is known in time, even
    when that max-age is shorter than the verifier's refetch interval."""
    mock_issuer.cache_control = "max-age=5"
    with mock_issuer.client() as http:
        cache = make_cache(mock_issuer, clock, http)
        cache.get("issuer-key-1")
        mock_issuer.keys.append(second_key)
        clock.advance(2)  # still fresh: the refetch interval (60 s) holds
        with pytest.raises(InvalidToken):
            cache.get("issuer-key-2")
        clock.advance(4)  # past max-age: the issuer's pace applies
        assert cache.get("issuer-key-2").kid == "issuer-key-2"
    assert mock_issuer.jwks_fetches == 2


def test_threads_asking_at_once_for_the_same_new_kid_cause_one_fetch(
    cache: KeyCache, mock_issuer: MockIssuer, clock: Clock, second_key: RSAKey
) -> None:
    cache.get("issuer-key-1")
    mock_issuer.keys.append(second_key)  # a key the cache has not seen
    mock_issuer.delay = 0.2
    clock.advance(61)
    threads, barrier, found = 20, threading.Barrier(20), []

    def ask() -> None:
        barrier.wait()
        found.append(cache.get("issuer-key-2").kid)

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert found == ["issuer-key-2"] * threads
    assert mock_issuer.jwks_fetches == 2


def test_coroutines_asking_at_once_for_the_same_new_kid_cause_one_fetch(
    mock_issuer: MockIssuer, clock: Clock, second_key: RSAKey
) -> None:
    async def ask_together() -> list[str]:
        async with mock_issuer.async_client() as client:
            cache = make_cache(mock_issuer, clock, async_http=client)
            await cache.aget("issuer-key-1")
            mock_issuer.keys.append(second_key)
            mock_issuer.delay = 0.2
            clock.advance(61)
            keys = await asyncio.gather(*(cache.aget("issuer-key-2") for _ in range(20)))
            cache.close()
            return [key.kid or "" for key in keys]

    assert asyncio.run(ask_together()) == ["issuer-key-2"] * 20
    assert mock_issuer.jwks_fetches == 2


def test_while_the_issuer_is_down_stale_keys_serve_and_it_is_retried_later(
    cache: KeyCache, mock_issuer: MockIssuer, clock: Clock
) -> None:
    cache.get("issuer-key-1")
    mock_issuer.down = True
    clock.advance(301)

    assert cache.get("issuer-key-1").kid == "issuer-key-1"  # a failed refresh: stale-if-error
    clock.advance(30)
    assert cache.get("issuer-key-1").kid == "issuer-key-1"  # too soon to try again
    assert mock_issuer.jwks_fetches == 2
    with pytest.raises(InvalidToken):
        cache.get("unknown")

    mock_issuer.down = False
    clock.advance(31)
    assert cache.get("issuer-key-1").kid == "issuer-key-1"
    assert mock_issuer.jwks_fetches == 3


def test_with_no_keys_and_the_issuer_down_the_issuer_is_unavailable_not_hammered(
    cache: KeyCache, mock_issuer: MockIssuer, clock: Clock
) -> None:
    mock_issuer.down = True
    for _ in range(5):
        with pytest.raises(IssuerUnavailable):
            cache.get("issuer-key-1")
    assert sum(mock_issuer.requests.values()) == 1

    mock_issuer.down = False
    clock.advance(60)
    assert cache.get("issuer-key-1").kid == "issuer-key-1"


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("issuer", ISSUER + "/"),  # OIDC Discovery 1.0 §4.3: exactly the configured issuer
        ("issuer", "https://evil.example.test"),
        ("jwks_uri", "http://issuer.example.test/jwks.json"),  # RFC 8414 §2: https
        ("jwks_uri", None),
        ("jwks_uri", "/jwks.json"),
    ],
)
def test_discovery_must_describe_this_issuer_with_an_https_jwks_uri(
    cache: KeyCache, mock_issuer: MockIssuer, change: str, value: object
) -> None:
    mock_issuer.metadata_changes[change] = value
    with pytest.raises(IssuerUnavailable):
        cache.get("issuer-key-1")
    assert mock_issuer.jwks_fetches == 0


def test_a_redirect_or_an_oversized_jwks_is_a_failed_fetch(
    cache: KeyCache, mock_issuer: MockIssuer, clock: Clock
) -> None:
    mock_issuer.jwks_response = httpx.Response(302, headers={"Location": "https://evil.test/"})
    with pytest.raises(IssuerUnavailable):
        cache.get("issuer-key-1")

    clock.advance(61)
    mock_issuer.jwks_response = httpx.Response(200, content=b" " * (600 * 1024) + b"{}")
    with pytest.raises(IssuerUnavailable):
        cache.get("issuer-key-1")
    assert [r.url.host for r in mock_issuer.seen] == ["issuer.example.test"] * 4


def small_rsa_jwk(kid: str) -> dict[str, str]:
    """A 1024-bit modulus: RFC 7518 §3.3 wants 2048 bits at least for RS256."""
    n = (secrets.randbits(1024) | (1 << 1023) | 1).to_bytes(128, "big")
    return {"kty": "RSA", "kid": kid, "n": b64url(n), "e": "AQAB"}


def test_only_public_rsa_signature_keys_with_distinct_kids_are_trusted(
    issuer_key: RSAKey, attacker_key: RSAKey, second_key: RSAKey
) -> None:
    good = public_jwk(issuer_key)
    keys = parse_jwks(
        {
            "keys": [
                good,
                {**public_jwk(second_key), "kid": "twice"},
                {**public_jwk(attacker_key), "kid": "twice"},  # ambiguous: neither is used
                {**public_jwk(second_key), "kid": "for-encryption", "use": "enc"},
                {**public_jwk(second_key), "kid": "hmac", "alg": "HS256"},
                {**public_jwk(second_key), "kid": "wrap-only", "key_ops": ["wrapKey"]},
                {**public_jwk(second_key), "kid": None},
                small_rsa_jwk("too-small"),
                {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
                {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
                {**issuer_key.as_dict(private=True), "kid": "with-private-members"},
                "not an object",
            ]
        }
    )
    assert sorted(keys) == ["issuer-key-1", "with-private-members"]
    assert not keys["with-private-members"].is_private  # private members are never read


@pytest.mark.parametrize("document", [{}, {"keys": {}}, {"keys": "a"}])
def test_a_jwks_without_a_keys_array_is_a_failed_fetch(document: dict[str, object]) -> None:
    with pytest.raises(FetchError):
        parse_jwks(document)
