"""No hostile input makes any endpoint answer 500 (SECURITY-CHECKLIST, test 7: a "no 500"
fuzz of every endpoint). A seeded random corpus, so a failure is reproducible."""

import random
import string
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.http.tokens import basic

SEED = 20261127
FORM = "application/x-www-form-urlencoded"
CASES = 60
_ALPHABET = string.printable + "é☃\u0000\ud7ff" + "%&=+;#?/.@"
_HEADER_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "


def junk(rng: random.Random, longest: int = 80) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, longest)))


def header_junk(rng: random.Random, longest: int = 80) -> str:
    """What a client can send in a header at all: visible ASCII and spaces."""
    return "".join(rng.choice(_HEADER_ALPHABET) for _ in range(rng.randint(0, longest)))


def form(rng: random.Random, names: list[str]) -> dict[str, str]:
    chosen = rng.sample(names, rng.randint(0, len(names)))
    return {name: rng.choice([junk(rng), "", "a.b.c", "x" * 3000]) for name in chosen}


OAUTH_NAMES = [
    "grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret",
    "refresh_token", "scope", "resource", "token", "token_type_hint", "state", "nonce",
]  # fmt: skip
AUTHORIZE_NAMES = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt",
    "max_age", "code_challenge", "code_challenge_method", "id_token_hint", "decision",
    "csrf_token", "post_logout_redirect_uri", "username", "password", "next",
    "request_uri", "dpop_jkt", "pushed_until",
]  # fmt: skip


def requests_for(rng: random.Random) -> list[Callable[[TestClient], Response]]:
    oauth = form(rng, OAUTH_NAMES)
    page = form(rng, AUTHORIZE_NAMES)
    auth = rng.choice(
        [{}, basic(junk(rng, 20) or "x", junk(rng, 20) or "y"), {"Authorization": header_junk(rng)}]
    )
    bearer = {"Authorization": "Bearer " + header_junk(rng, 200)}
    raw = junk(rng, 400).encode("utf-8", "surrogatepass")
    return [
        lambda http: http.post("/token", data=oauth, headers=auth),
        lambda http: http.post("/revoke", data=oauth, headers=auth),
        lambda http: http.post("/introspect", data=oauth, headers=auth),
        lambda http: http.post("/par", data=page, headers=auth),
        lambda http: http.post(
            "/token", content=raw, headers={"Content-Type": header_junk(rng, 40)}
        ),
        lambda http: http.get("/userinfo", headers=bearer),
        lambda http: http.post("/userinfo", headers=bearer),
        lambda http: http.get("/authorize", params=page),
        lambda http: http.post("/authorize", data=page),
        lambda http: http.get("/login", params=page),
        lambda http: http.post("/login", data=page),
        lambda http: http.get("/logout", params=page),
        lambda http: http.post("/logout", data=page),
        lambda http: http.post(
            "/login", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
    ]


@pytest.mark.parametrize("case", range(CASES))
def test_hostile_requests_never_get_a_server_error(http: TestClient, case: int) -> None:
    rng = random.Random(SEED + case)
    for send in requests_for(rng):
        response = send(http)
        assert response.status_code < 500 or response.status_code == 503, response.text[:300]
