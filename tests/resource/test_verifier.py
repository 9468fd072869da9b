"""The verifier with an in-memory issuer: configuration, key/alg binding, sync and async."""

import asyncio
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from joserfc.jwk import RSAKey

import authserver.resource
from authserver.resource import InvalidToken, Verifier
from tests.resource.forge import HEADER, access_claims, rs256
from tests.resource.mock_issuer import AUDIENCE, ISSUER, JWKS_PATH, MockIssuer

BRIEF_CHECK = (
    "import authserver.resource, sys; assert not any(m.startswith(("
    "'sqlalchemy','sqlmodel','fastapi','authlib','starlette')) for m in sys.modules)"
)
HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "authlib", "starlette", "pydantic", "alembic")


def token(key: RSAKey, **claims: object) -> str:
    return rs256({**HEADER, "kid": key.kid}, access_claims(ISSUER, AUDIENCE, **claims), key)


def test_importing_the_verifier_loads_no_database_or_web_stack() -> None:
    # Besides its own package, only the one JWT validator it shares with the server, the
    # DPoP proof checks (`authserver.dpop`, RFC 9449) and the status-list bit array
    # (`authserver.statuslists.bits`, standard library only).
    names = ", ".join(repr(name) for name in HEAVY)
    script = (
        "import authserver.resource, sys; "
        f"loaded = [m for m in sys.modules if m.split('.')[0] in ({names},)]; "
        "assert not loaded, loaded; "
        "assert 'authserver.resource.fastapi' not in sys.modules; "
        "assert 'authserver.dpop.server' not in sys.modules; "
        "assert not [m for m in sys.modules if m.startswith('authserver.')"
        " and not m.startswith(('authserver.resource', 'authserver.jose', 'authserver.dpop'))"
        " and m not in ('authserver.statuslists', 'authserver.statuslists.bits')],"
        " sorted(sys.modules)"
    )
    for code in (script, BRIEF_CHECK):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr


def test_the_public_surface_is_curated() -> None:
    assert set(authserver.resource.__all__) == {
        "BearerTokenError",
        "Claims",
        "InsufficientScope",
        "Introspector",
        "InvalidDPoPProof",
        "InvalidLogoutToken",
        "InvalidRequest",
        "InvalidToken",
        "IssuerUnavailable",
        "Logout",
        "LogoutTokenValidator",
        "Verifier",
        "bearer_token",
    }


@pytest.mark.parametrize(
    ("arguments", "options"),
    [
        (("ftp://issuer.example.test", AUDIENCE), {}),
        (("https://issuer.example.test?x=1", AUDIENCE), {}),
        (("https://user@issuer.example.test", AUDIENCE), {}),
        ((ISSUER, ""), {}),
        ((ISSUER, AUDIENCE), {"algorithms": ("HS256",)}),
        ((ISSUER, AUDIENCE), {"algorithms": ("RS256", "none")}),
        ((ISSUER, AUDIENCE), {"algorithms": ()}),
        ((ISSUER, AUDIENCE), {"leeway": timedelta(minutes=10)}),
        ((ISSUER, AUDIENCE), {"leeway": -1}),
        ((ISSUER, AUDIENCE), {"min_refetch_interval": timedelta(seconds=-1)}),
        ((ISSUER, AUDIENCE), {"jwks_uri": "http://issuer.example.test/jwks.json"}),
        ((ISSUER, AUDIENCE), {"jwks_uri": "jwks.json"}),
    ],
)
def test_an_unsafe_configuration_is_refused(
    arguments: tuple[str, str], options: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        Verifier(*arguments, **options)  # type: ignore[arg-type]


def test_a_configured_jwks_uri_skips_discovery(mock_issuer: MockIssuer, issuer_key: RSAKey) -> None:
    with mock_issuer.client() as http:
        verifier = Verifier(ISSUER, AUDIENCE, jwks_uri=f"{ISSUER}{JWKS_PATH}", http=http)
        assert verifier.verify(token(issuer_key)).sub == "service-client"
    assert dict(mock_issuer.requests) == {JWKS_PATH: 1}


def test_a_key_published_for_one_alg_is_not_used_with_another(
    mock_issuer: MockIssuer, issuer_key: RSAKey
) -> None:
    # RFC 8725 §3.1: the JWK says RS256; a token claiming RS512 with it is refused.
    with mock_issuer.client() as http:
        verifier = Verifier(ISSUER, AUDIENCE, algorithms=("RS256", "RS512"), http=http)
        header = {**HEADER, "alg": "RS512", "kid": issuer_key.kid}
        forged = rs256(header, access_claims(ISSUER, AUDIENCE), issuer_key)
        with pytest.raises(InvalidToken, match="does not match its key"):
            verifier.verify(forged)


def test_the_leeway_is_configurable(mock_issuer: MockIssuer, issuer_key: RSAKey) -> None:
    just_expired = token(issuer_key, exp=int(time.time()) - 5)
    with mock_issuer.client() as http:
        assert Verifier(ISSUER, AUDIENCE, http=http).verify(just_expired)
        with pytest.raises(InvalidToken, match="expired"):
            Verifier(ISSUER, AUDIENCE, leeway=0, http=http).verify(just_expired)


def test_a_token_that_is_not_text_is_refused(verifier: Verifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(b"a.b.c")  # type: ignore[arg-type]


def test_sync_and_async_give_the_same_claims(mock_issuer: MockIssuer, issuer_key: RSAKey) -> None:
    good = token(issuer_key, scope="orders:read orders:write")

    async def verify_async() -> dict[str, object]:
        async with mock_issuer.async_client() as client:
            with Verifier(ISSUER, AUDIENCE, async_http=client) as verifier:
                return dict(await verifier.averify(good))

    with mock_issuer.client() as http:
        assert dict(Verifier(ISSUER, AUDIENCE, http=http).verify(good)) == asyncio.run(
            verify_async()
        )


def test_async_verification_without_a_client_uses_its_own(
    mock_issuer: MockIssuer, issuer_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = httpx.AsyncClient
    made: list[httpx.AsyncClient] = []

    def mocked(**options: object) -> httpx.AsyncClient:
        client = real(transport=httpx.MockTransport(mock_issuer.ahandle))
        made.append(client)
        return client

    monkeypatch.setattr(httpx, "AsyncClient", mocked)
    with Verifier(ISSUER, AUDIENCE) as verifier:
        assert asyncio.run(verifier.averify(token(issuer_key))).sub == "service-client"
    assert len(made) == 1 and made[0].is_closed
