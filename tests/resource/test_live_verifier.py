"""The verifier against a real `authserver serve`: what it accepts, and what it refuses.

Every refusal is RFC 6750 §3.1 `invalid_token` (RFC 9068 §4, RFC 8725). Forged tokens are
signed with the server's own key from its key store, so only the one flaw under test is
wrong; an attacker's key stands in where the attack needs one.
"""

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import RSAKey

from authserver.resource import Claims, InvalidToken, Verifier
from tests.factories import SERVICE_AUDIENCE
from tests.resource.conftest import CountingTransport, LiveIssuer, MakeVerifier
from tests.resource.forge import HEADER, b64url, hs256, public_jwk, rs256, segment, unsigned

pytestmark = pytest.mark.e2e

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/.well-known/jwks.json"


@pytest.fixture(scope="module")
def server_key(live_issuer: LiveIssuer) -> RSAKey:
    return live_issuer.signing_key()


@pytest.fixture(scope="module")
def code_flow_tokens(live_issuer: LiveIssuer) -> dict[str, Any]:
    return live_issuer.code_flow_tokens()


@dataclass
class Forgery:
    """What a forging function may use: the live issuer, its key, an attacker's key."""

    live: LiveIssuer
    key: RSAKey
    attacker: RSAKey
    code_flow_tokens: dict[str, Any]

    @property
    def now(self) -> int:
        return int(time.time())

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {**HEADER, "kid": self.key.kid, **changes}
        return {name: value for name, value in header.items() if value is not None}

    def sign(self, claims: dict[str, Any] | str, **header: Any) -> str:
        return rs256(self.header(**header), claims, self.key)

    def claims(self, **changes: Any) -> dict[str, Any]:
        return self.live.claims(**changes)

    def by_attacker(self, **header: Any) -> str:
        return rs256(self.header(kid=self.attacker.kid, **header), self.claims(), self.attacker)


@pytest.fixture
def forgery(
    live_issuer: LiveIssuer,
    server_key: RSAKey,
    attacker_key: RSAKey,
    code_flow_tokens: dict[str, Any],
) -> Forgery:
    return Forgery(live_issuer, server_key, attacker_key, code_flow_tokens)


def public_pem(key: RSAKey) -> bytes:
    return key.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def with_payload(token: str, **changes: Any) -> str:
    """The same header and signature around a changed payload."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{segment({**claims, **changes})}.{signature}"


def non_canonical(token: str) -> str:
    """Flip an unused low bit of the last base64url character: same bytes, other text."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = token[-1]
    return token[:-1] + alphabet[alphabet.index(last) ^ 1]


REFUSED: dict[str, tuple[str, Callable[[Forgery], str]]] = {
    # RFC 9068 §4 step 6, RFC 7519 §4.1.4-4.1.6: dates, with 60 s of leeway.
    "expired": ("expired", lambda f: f.sign(f.claims(exp=f.now - 61, iat=f.now - 900))),
    "not yet valid (nbf)": ("nbf", lambda f: f.sign(f.claims(nbf=f.now + 120))),
    "issued in the future (iat)": ("iat", lambda f: f.sign(f.claims(iat=f.now + 120))),
    "exp not an integer": ("integers", lambda f: f.sign(f.claims(exp=f.now + 600.5))),
    "exp a string": ("integers", lambda f: f.sign(f.claims(exp=str(f.now + 600)))),
    "exp a boolean": ("integers", lambda f: f.sign(f.claims(exp=True))),
    # RFC 9068 §4 step 3: the issuer, exactly.
    "wrong iss": ("issuer", lambda f: f.sign(f.claims(iss="https://evil.example.test"))),
    "iss with a trailing slash": ("issuer", lambda f: f.sign(f.claims(iss=f.live.base_url + "/"))),
    "iss as a prefix": ("issuer", lambda f: f.sign(f.claims(iss=f.live.base_url[:-1]))),
    # RFC 9068 §4 step 4: the audience.
    "wrong aud": ("aud", lambda f: f.sign(f.claims(aud="https://profile.example.test"))),
    "aud list without us": (
        "aud",
        lambda f: f.sign(f.claims(aud=["https://a.test", "https://b.test"])),
    ),
    "aud a prefix of ours": ("aud", lambda f: f.sign(f.claims(aud=SERVICE_AUDIENCE[:-1]))),
    # RFC 8725 §3.1: the algorithm comes from the allow-list, never from the token.
    "alg none": ("alg", lambda f: unsigned(f.header(), f.claims())),
    "alg none without kid": ("alg", lambda f: unsigned(f.header(kid=None), f.claims())),
    "alg none with a signature": ("alg", lambda f: unsigned(f.header(), f.claims()) + "c2ln"),
    "alg in lower case": ("alg", lambda f: f.sign(f.claims(), alg="rs256")),
    "HS256 keyed with the public key (PEM)": (
        "alg",
        lambda f: hs256(f.header(), f.claims(), public_pem(f.key)),
    ),
    "HS256 keyed with the public key (JWK)": (
        "alg",
        lambda f: hs256(f.header(), f.claims(), json.dumps(public_jwk(f.key)).encode()),
    ),
    "RS256 header, alg RS512 claimed": ("alg", lambda f: f.sign(f.claims(), alg="RS512")),
    # RFC 7515 §5.2: the signature covers header and payload.
    "tampered payload": (
        "signature",
        lambda f: with_payload(
            f.live.access_token("orders:read"), scope="orders:read orders:write admin"
        ),
    ),
    "tampered signature": ("signature", lambda f: f.sign(f.claims())[:-8] + "AAAAAAAA"),
    # RFC 9068 §4 step 1, RFC 8725 §3.11: an id_token is never an access token.
    "an id_token": ("typ", lambda f: f.code_flow_tokens["id_token"]),
    "typ JWT": ("typ", lambda f: f.sign(f.claims(), typ="JWT")),
    "no typ": ("typ", lambda f: f.sign(f.claims(), typ=None)),
    # Keys: only the issuer's published ones, by kid.
    "unknown kid": ("kid is not a published key", lambda f: f.by_attacker()),
    "our kid, the attacker's key": (
        "signature",
        lambda f: rs256(f.header(), f.claims(), f.attacker),
    ),
    "no kid": ("no kid", lambda f: f.sign(f.claims(), kid=None)),
    "kid not a string": ("no kid", lambda f: f.sign(f.claims(), kid=["a"])),
    # RFC 8725 §3.10, RFC 7515 §4.1: no key named or carried by the token, never fetched.
    "jku": ("members other", lambda f: f.by_attacker(jku="http://127.0.0.1:9/jwks.json")),
    "jwk": ("members other", lambda f: f.by_attacker(jwk=public_jwk(f.attacker))),
    "x5u": ("members other", lambda f: f.by_attacker(x5u="http://127.0.0.1:9/cert.pem")),
    "x5c": ("members other", lambda f: f.by_attacker(x5c=["MIIB"])),
    "crit": ("members other", lambda f: f.sign(f.claims(), crit=["exp"])),
    "jku beside our own kid and key": (
        "members other",
        lambda f: f.sign(f.claims(), jku="http://127.0.0.1:9/"),
    ),
    # RFC 9068 §2.2: required claims.
    "no jti": ("lacks the claims jti", lambda f: f.sign(f.claims(jti=None))),
    "no client_id": ("lacks the claims client_id", lambda f: f.sign(f.claims(client_id=None))),
    "no sub": ("lacks the claims sub", lambda f: f.sign(f.claims(sub=None))),
    "no exp": ("lacks the claims exp", lambda f: f.sign(f.claims(exp=None))),
    "no iat": ("lacks the claims iat", lambda f: f.sign(f.claims(iat=None))),
    "scope not a string": ("scope", lambda f: f.sign(f.claims(scope=["orders:read"]))),
    # RFC 7519 §7.2, RFC 8725: one parse only.
    "duplicate claim names": (
        "repeats a member name",
        lambda f: f.sign(json.dumps(f.claims())[:-1] + f', "aud": "{SERVICE_AUDIENCE}"}}'),
    ),
    "payload not an object": ("JSON object", lambda f: f.sign('["not", "an", "object"]')),
    "non-canonical base64url": ("canonical", lambda f: non_canonical(f.sign(f.claims()))),
    "over 8 KiB": ("8 KiB", lambda f: f.sign(f.claims(padding="x" * 8192))),
    "not a JWT": ("compact JWS", lambda f: "not-a-jwt"),
    "an opaque refresh token": ("compact JWS", lambda f: f.code_flow_tokens["refresh_token"]),
    "JWE-shaped": (
        "compact JWS",
        lambda f: ".".join(b64url(secrets.token_bytes(16)) for _ in range(5)),
    ),
}


def test_a_client_credentials_token_from_the_server_is_accepted(
    live_issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    verifier, transport = make_verifier(live_issuer)
    token = live_issuer.access_token("orders:read orders:write")

    claims = verifier.verify(token)

    assert claims.iss == live_issuer.base_url
    assert claims.sub == claims.client_id == live_issuer.client_id
    assert claims.aud == (SERVICE_AUDIENCE,)
    assert claims.scopes == {"orders:read", "orders:write"}
    assert claims.require_scopes("orders:read") is claims
    assert claims["jti"] == claims.jti and claims.exp > time.time()
    # Discovery once, the JWKS once, the token's status list once (draft-ietf-oauth-
    # status-list-18 §8.3); a second token needs nothing more (RFC 9111 max-age, `ttl`).
    second = live_issuer.access_token()
    verifier.verify(second)
    assert (
        verifier.verify(second)["status"]["status_list"]["uri"]
        == (claims["status"]["status_list"]["uri"])
    )
    status_path = httpx.URL(claims["status"]["status_list"]["uri"]).path
    assert transport.paths == {DISCOVERY: 1, JWKS: 1, status_path: 1}


def test_an_access_token_from_the_code_flow_is_accepted(
    live_issuer: LiveIssuer, make_verifier: MakeVerifier, code_flow_tokens: dict[str, Any]
) -> None:
    verifier, _ = make_verifier(live_issuer)
    claims = verifier.verify(code_flow_tokens["access_token"])
    assert claims.client_id == live_issuer.web_app[0] != claims.sub
    assert claims.has_scopes("openid", "orders:read")


@pytest.mark.parametrize("case", REFUSED)
def test_a_bad_token_is_refused_as_invalid_token(
    case: str, forgery: Forgery, make_verifier: MakeVerifier
) -> None:
    verifier, transport = make_verifier(forgery.live)
    reason, forge = REFUSED[case]
    token = forge(forgery)

    with pytest.raises(InvalidToken, match=re.escape(reason)) as refused:
        verifier.verify(token)

    assert refused.value.error == "invalid_token" and refused.value.status_code == 401
    assert refused.value.www_authenticate.startswith('Bearer error="invalid_token", ')
    # Nothing but discovery and the JWKS is ever fetched (never `jku` or `x5u`).
    assert set(transport.paths) <= {DISCOVERY, JWKS}


@pytest.mark.parametrize("case", ["expired", "wrong aud", "alg none", "an id_token", "jku"])
def test_the_async_path_refuses_the_same_tokens(case: str, forgery: Forgery) -> None:
    reason, forge = REFUSED[case]
    token = forge(forgery)

    async def verify() -> Claims:
        async with httpx.AsyncClient() as client:
            with Verifier(forgery.live.base_url, SERVICE_AUDIENCE, async_http=client) as verifier:
                return await verifier.averify(token)

    with pytest.raises(InvalidToken, match=re.escape(reason)):
        asyncio.run(verify())


ACCEPTED: dict[str, Callable[[Forgery], str]] = {
    "exp 30 s ago (within the leeway)": lambda f: f.sign(f.claims(exp=f.now - 30)),
    "nbf 30 s ahead (within the leeway)": lambda f: f.sign(f.claims(nbf=f.now + 30)),
    "iat 30 s ahead (within the leeway)": lambda f: f.sign(f.claims(iat=f.now + 30)),
    "aud a list with us": lambda f: f.sign(f.claims(aud=["https://a.test", SERVICE_AUDIENCE])),
    "typ application/at+jwt": lambda f: f.sign(f.claims(), typ="application/at+jwt"),
    "typ in capitals": lambda f: f.sign(f.claims(), typ="AT+JWT"),
    "extra claims": lambda f: f.sign(f.claims(auth_time=f.now, acr="1", roles=["a"])),
    "no scope claim": lambda f: f.sign(f.claims(scope=None)),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_a_good_token_at_the_edges_is_accepted(
    case: str, forgery: Forgery, make_verifier: MakeVerifier
) -> None:
    verifier, _ = make_verifier(forgery.live)
    assert verifier.verify(ACCEPTED[case](forgery)).iss == forgery.live.base_url


def test_the_async_path_accepts_a_token_and_fetches_with_the_async_client(
    live_issuer: LiveIssuer,
) -> None:
    tokens = [live_issuer.access_token(), live_issuer.access_token("orders:write")]
    transport = CountingTransport()

    async def verify_all() -> list[Claims]:
        async with httpx.AsyncClient(transport=transport) as client:
            with Verifier(live_issuer.base_url, SERVICE_AUDIENCE, async_http=client) as verifier:
                return [await verifier.averify(token) for token in tokens]

    first, second = asyncio.run(verify_all())

    assert first.scopes == {"orders:read"} and second.scopes == {"orders:write"}
    assert transport.paths == {DISCOVERY: 1, JWKS: 1}


def test_a_flood_of_unknown_kids_costs_the_issuer_at_most_two_jwks_fetches(
    forgery: Forgery, make_verifier: MakeVerifier
) -> None:
    verifier, transport = make_verifier(forgery.live)
    claims = segment(forgery.claims())
    signature = b64url(secrets.token_bytes(256))
    flood = [
        f"{segment(forgery.header(kid=secrets.token_urlsafe(16)))}.{claims}.{signature}"
        for _ in range(1000)
    ]

    refused = 0
    for token in flood:
        with pytest.raises(InvalidToken, match="kid"):
            verifier.verify(token)
        refused += 1

    print(f"{refused} tokens with random kids: {transport.jwks_fetches} JWKS fetches")
    assert refused == 1000
    assert transport.jwks_fetches <= 2
    # The keys it holds still verify the issuer's tokens, without another fetch.
    assert verifier.verify(forgery.live.access_token()).client_id == forgery.live.client_id
    assert transport.jwks_fetches <= 2
