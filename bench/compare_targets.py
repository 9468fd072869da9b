"""What bench/compare.py asks each server, endpoint by endpoint, and one probe of each.

The same request on both sides wherever the peer has the endpoint: the same client and
client_credentials form (scope and `resource`, RFC 8707), the same key in both JWKS. Two
differ by necessity: introspection (ours: a JWT, the peer: an opaque token, since it does
not store its JWT access tokens) and userinfo (ours: a JWT access token, checked in memory
and the user read from the database; the peer: an opaque token from its store).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from compare_measure import MeasurementError, Target
from compare_servers import BENCH_AUDIENCE, BENCH_SCOPE, Credentials, OurSetup
from compare_tokens import (
    client_credentials_tokens,
    peer_user_access_token,
    user_access_token,
    write_tokens,
)

OPAQUE_AUDIENCE = "urn:bench:opaque-api"
INTROSPECTED_TOKENS = 16
USERINFO_PEER = (
    "ours a JWT access token (verified in memory, the user read from the database), the peer "
    "an opaque token from its store; both from the code flow for `openid profile`, the "
    "peer's through its devInteractions login and consent pages"
)

Targets = dict[str, dict[str, Target]]  # endpoint key -> "ours" / "peer" -> Target


@dataclass(frozen=True)
class Bases:
    ours: str
    peer: str
    peer_has_redis: bool


def token_target(base_url: str, client: Credentials) -> Target:
    form = {"grant_type": "client_credentials", "scope": BENCH_SCOPE, "resource": BENCH_AUDIENCE}
    return Target(
        base_url + "/token", "POST", urlencode(form), client.authorization, expect='"access_token"'
    )


def round_targets(bases: Bases, setup: OurSetup, directory: Path) -> Targets:
    """Every endpoint's targets, with tokens fetched just now (files in `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    token = {
        "ours": token_target(bases.ours, setup.bench),
        "peer": token_target(bases.peer, setup.bench),
    }
    return {
        "token": token,
        "token_1conn": token,
        "jwks": {
            "ours": Target(bases.ours + "/.well-known/jwks.json", expect='"keys"'),
            "peer": Target(bases.peer + "/jwks", expect='"keys"'),
        },
        "introspect": introspection_targets(bases, setup, directory),
        "userinfo": userinfo_targets(bases, setup, directory),
    }


def introspection_targets(bases: Bases, setup: OurSetup, directory: Path) -> dict[str, Target]:
    """Ours: JWTs of the bench client, introspected by the client made with --introspect.
    The peer: opaque tokens, introspected by their own client; only with a shared store
    (Redis), since each cluster worker's in-memory store knows only its own tokens."""
    jwts = client_credentials_tokens(
        bases.ours + "/token", setup.bench, BENCH_SCOPE, BENCH_AUDIENCE, INTROSPECTED_TOKENS
    )
    targets = {
        "ours": Target(
            bases.ours + "/introspect",
            "POST",
            authorization=setup.introspector.authorization,
            tokens_file=write_tokens(directory / "ours-jwts", jwts),
            carried_in="body",
            expect='"active":true',
        )
    }
    if bases.peer_has_redis:
        opaque = client_credentials_tokens(
            bases.peer + "/token", setup.bench, BENCH_SCOPE, OPAQUE_AUDIENCE, INTROSPECTED_TOKENS
        )
        targets["peer"] = Target(
            bases.peer + "/token/introspection",
            "POST",
            authorization=setup.bench.authorization,
            tokens_file=write_tokens(directory / "peer-opaque", opaque),
            carried_in="body",
            expect='"active":true',
        )
    return targets


def userinfo_targets(bases: Bases, setup: OurSetup, directory: Path) -> dict[str, Target]:
    """GET /userinfo with a user's token from each server's code flow (`openid profile`);
    the peer's only with a shared store (its sign-in spans both cluster workers)."""
    ours = user_access_token(bases.ours, setup.web_app, setup.username, setup.password)
    targets = {"ours": userinfo_target(bases.ours + "/userinfo", directory / "user", ours)}
    if bases.peer_has_redis:
        peer = peer_user_access_token(bases.peer, setup.web_app, setup.username)
        targets["peer"] = userinfo_target(bases.peer + "/me", directory / "peer-user", peer)
    return targets


def userinfo_target(url: str, path: Path, token: str) -> Target:
    return Target(url, tokens_file=write_tokens(path, [token]), carried_in="bearer", expect='"sub"')


def request_labels(targets: Targets) -> dict[str, dict[str, str]]:
    """What each server is asked, for the table: "POST /introspect (JWT)"."""
    kinds = {("introspect", "ours"): " (JWT)", ("introspect", "peer"): " (opaque)"}
    return {
        key: {
            server: f"{target.method} {urlsplit(target.url).path}" + kinds.get((key, server), "")
            for server, target in by_server.items()
        }
        for key, by_server in targets.items()
    }


def probe_responses(targets: Targets) -> dict[str, dict[str, Any]]:
    """One request to each endpoint of each server: status, size, and what came back."""
    return {
        key: {server: probe(target) for server, target in by_server.items()}
        for key, by_server in targets.items()
        if key != "token_1conn"  # the same requests as "token"
    }


def probe(target: Target) -> dict[str, Any]:
    headers = {"Authorization": target.authorization} if target.authorization else {}
    body = target.body
    if target.tokens_file is not None:
        token = target.tokens_file.read_text().split()[0]
        if target.carried_in == "body":
            body = urlencode({"token": token})
        else:
            headers["Authorization"] = f"Bearer {token}"
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    answer = httpx.request(target.method, target.url, content=body or None, headers=headers)
    if answer.status_code // 100 != 2 or target.expect not in answer.text:
        raise MeasurementError(
            f"{target.method} {target.url} answered {answer.status_code}: {answer.text[:300]}"
        )
    described: dict[str, Any] = {"status": answer.status_code, "bytes": len(answer.content)}
    document = answer.json()
    if "access_token" in document:
        described["access_token_chars"] = len(document["access_token"])
    if "keys" in document:
        described["keys"] = len(document["keys"])
    return described
