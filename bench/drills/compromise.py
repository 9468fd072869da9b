"""Key compromise: `authserver keys revoke <kid>` of the signing key, under load.

`authserver serve --workers 2` with the signing keys in PostgreSQL (the database key
store: every process is notified of a change at once, docs/keys.md). Tokens are
issued with key K1, then `keys rotate` makes K2 current and tokens are issued with K2.
Under load (introspection of both sets, new client_credentials tokens, a refresh chain,
and `authserver.resource.Verifier` verifying both sets and the newest token), K2, the
current key, is revoked: K3, published as `next` since the rotation, signs from then on.

What must hold (RFC 7662 §2.2, docs/keys.md "authserver keys revoke"):

- K2's tokens introspect `active: false` once every process has reloaded: none is
  active later than PROPAGATION_BOUND_SECONDS after the revocation was stored (its
  `key.revoked` audit event; the bound tests/e2e/test_fleet.py holds a replica to),
  and none at the end;
- the verifier refuses K2's tokens after its next JWKS fetch: not later than the bound
  plus its cache lifetime and refetch interval; and a fresh verifier refuses them;
- no other token is affected: K1's and K3's tokens stay active at introspection and
  accepted by the verifier at every moment, and refreshes keep answering 200;
- no process signs with K2 later than the bound.
"""

import json
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import jwt
from deployment import start_on_database_key_store
from outcome import DrillResult
from postgres import unreachable
from seeding import SERVICE_AUDIENCE, Credentials, Family, Seed
from servers import run_cli
from sqlalchemy import select
from traffic import Traffic, status_counts

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.resource import InvalidToken, Verifier

PROPAGATION_BOUND_SECONDS = 5.0
LAST_ACTIVE = "introspection: last K2 active after the commit, s"
FIRST_REFUSAL = "verifier: K2 refused from (after the commit), s"
OTHERS_HIT = "other tokens refused or inactive (any time)"
VERIFIER_MAX_CACHE_SECONDS = 1.0
VERIFIER_REFETCH_SECONDS = 0.5
TOKENS_PER_KEY = 20
PHASES = {False: (2.0, 10.0), True: (1.5, 3.5)}  # load before and after the revoke; by quick


@dataclass(frozen=True)
class Observation:
    at: float  # time.time(): compared with the revocation's audit event
    token_kid: str
    accepted: bool  # active at introspection, or accepted by the verifier


@dataclass
class Observations:
    introspected: list[Observation] = field(default_factory=list)
    verified: list[Observation] = field(default_factory=list)
    issued: list[tuple[float, str, str]] = field(default_factory=list)  # (at, kid, token)


def run(quick: bool, rng: random.Random) -> DrillResult:
    result = DrillResult("compromise", "keys revoke of the signing key under load")
    if (reason := unreachable()) is not None:
        result.skipped = reason
        return result
    before, after = PHASES[quick]
    with ExitStack() as stack:
        deployment = start_on_database_key_store(stack, families=2)
        database_url, seed, server = deployment.database_url, deployment.seed, deployment.server
        environment, base_url = deployment.environment, server.base_url
        with httpx.Client(base_url=base_url, timeout=30) as http:
            old = [_service_token(http, seed.service) for _ in range(TOKENS_PER_KEY)]
            k1 = _kid(old[0])
            rotated = run_cli(environment, "keys", "rotate", "--json")
            if rotated.returncode != 0:
                raise RuntimeError(f"keys rotate failed: {rotated.stderr.strip()}")
            k2 = json.loads(rotated.stdout)["current"]
            _wait_until_signing_with(http, seed.service, k2)
            compromised = [_service_token(http, seed.service) for _ in range(TOKENS_PER_KEY)]
        verifier = stack.enter_context(
            Verifier(
                base_url,
                SERVICE_AUDIENCE,
                max_cache=VERIFIER_MAX_CACHE_SECONDS,
                min_refetch_interval=VERIFIER_REFETCH_SECONDS,
            )
        )
        watched = old + compromised
        refused_before = [t for t in watched if not _accepts(verifier, t)]
        result.require(
            not refused_before, f"{len(refused_before)} tokens refused before the revoke"
        )
        seen = Observations()
        traffic = Traffic()
        traffic.add("introspect", _introspector(base_url, seed.introspector, watched, seen))
        traffic.add("issue", _issuer(base_url, seed.service, seen))
        traffic.add("verify", _verifying(verifier, watched, seen))
        traffic.add("refresh", _refresher(base_url, seed.web_app, seed.families[0]))
        with traffic:
            time.sleep(before)
            began = time.time()
            revoked = run_cli(environment, "keys", "revoke", k2, "--json")
            returned = time.time()
            time.sleep(after)
        result.require(traffic.failures == [], f"load threads failed: {traffic.failures}")
        result.require(revoked.returncode == 0, f"keys revoke failed: {revoked.stderr.strip()}")
        k3 = json.loads(revoked.stdout)["current"] if revoked.returncode == 0 else "?"
        result.figure("keys: old K1, revoked K2, promoted K3", f"{k1[:8]}, {k2[:8]}, {k3[:8]}")
        committed = _revoked_at(database_url)
        result.figure("keys revoke: command took, s", returned - began)
        result.figure("keys revoke: committed after the command started, s", committed - began)
        _check_introspection(result, seen, k2, committed)
        _check_verifier(result, seen, k2, committed)
        _check_signing(result, seen, k2, k3, committed)
        result.figure("load answers by status", status_counts(traffic.exchanges))
        bad = [e for e in traffic.exchanges if e.status != 200]
        result.require(
            not bad, f"{len(bad)} answers other than 200 under load: {status_counts(bad)}"
        )
        _check_at_the_end(result, server.base_url, seed, old, compromised, seen, k2)
    result.headline = (
        f"K2 tokens last active {result.figures[LAST_ACTIVE]} s after the commit, refused "
        f"by the verifier from {result.figures[FIRST_REFUSAL]} s; "
        f"other tokens hit: {result.figures[OTHERS_HIT]}"
    )
    return result


def _revoked_at(database_url: str) -> float:
    """When `keys revoke` stored its change: its `key.revoked` audit event, written just
    after the key store's transaction."""
    database = Database(database_url)
    try:
        with database.reading() as db:
            moment = db.execute(
                select(AuditEvent.occurred_at).where(AuditEvent.event == "key.revoked")
            ).scalar_one()
    finally:
        database.dispose()
    return moment.timestamp()


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _service_token(http: httpx.Client, service: Credentials) -> str:
    data = {"grant_type": "client_credentials", "resource": SERVICE_AUDIENCE}
    response = http.post("/token", data=data, auth=service.auth)
    response.raise_for_status()
    return response.json()["access_token"]


def _wait_until_signing_with(http: httpx.Client, service: Credentials, kid: str) -> None:
    """Every process signs with `kid`: twenty tokens in a row carry it."""
    deadline = time.monotonic() + 30
    in_a_row = 0
    while in_a_row < 20:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not sign with {kid} within 30 s of the rotation")
        in_a_row = in_a_row + 1 if _kid(_service_token(http, service)) == kid else 0


def _accepts(verifier: Verifier, token: str) -> bool:
    try:
        verifier.verify(token)
    except InvalidToken:
        return False
    return True


def _introspector(
    base_url: str, introspector: Credentials, tokens: list[str], seen: Observations
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                for token in tokens:
                    exchange, response = traffic.call(
                        http, "introspect", "POST", "/introspect",
                        data={"token": token}, auth=introspector.auth,
                    )  # fmt: skip
                    if response is not None and exchange.status == 200:
                        active = response.json().get("active") is True
                        seen.introspected.append(Observation(time.time(), _kid(token), active))

    return loop


def _issuer(base_url: str, service: Credentials, seen: Observations) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        data = {"grant_type": "client_credentials", "resource": SERVICE_AUDIENCE}
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                started = time.time()
                exchange, response = traffic.call(
                    http, "token", "POST", "/token", data=data, auth=service.auth
                )
                if response is not None and exchange.status == 200:
                    token = response.json()["access_token"]
                    seen.issued.append((started, _kid(token), token))
                traffic.pause(0.01)

    return loop


def _verifying(
    verifier: Verifier, tokens: list[str], seen: Observations
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        while not traffic.stopping:
            newest = [seen.issued[-1][2]] if seen.issued else []
            for token in [*tokens, *newest]:
                seen.verified.append(
                    Observation(time.time(), _kid(token), _accepts(verifier, token))
                )
            traffic.pause(0.02)

    return loop


def _refresher(base_url: str, client: Credentials, family: Family) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        token = family.refresh_token
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                data = {"grant_type": "refresh_token", "refresh_token": token}
                exchange, response = traffic.call(
                    http, "refresh", "POST", "/token", data=data, auth=client.auth
                )
                if response is None or exchange.status != 200:
                    return
                token = response.json()["refresh_token"]
                traffic.pause(0.05)

    return loop


def _check_introspection(result: DrillResult, seen: Observations, k2: str, returned: float) -> None:
    after = [o for o in seen.introspected if o.at > returned]
    k2_active_after = [o.at - returned for o in after if o.token_kid == k2 and o.accepted]
    last = round(max(k2_active_after, default=0.0), 3)
    result.figure(
        "introspection: K2 answers before revoke (active)",
        _count(seen.introspected, k2, returned, before=True),
    )
    result.figure(
        "introspection: K2 answers after the commit, active / inactive",
        f"{len(k2_active_after)} / {sum(1 for o in after if o.token_kid == k2 and not o.accepted)}",
    )
    result.figure(LAST_ACTIVE, last)
    result.require(
        last <= PROPAGATION_BOUND_SECONDS,
        f"a K2 token introspected active {last:.2f} s after the revoke committed",
    )
    others = [o for o in seen.introspected if o.token_kid != k2]
    inactive = [o for o in others if not o.accepted]
    result.figure(
        "introspection: other tokens, active / inactive",
        f"{len(others) - len(inactive)} / {len(inactive)}",
    )
    result.require(not inactive, f"{len(inactive)} introspections of other keys' tokens inactive")


def _count(observations: list[Observation], kid: str, moment: float, *, before: bool) -> int:
    return sum(
        1 for o in observations if o.token_kid == kid and (o.at <= moment) == before and o.accepted
    )


def _check_verifier(result: DrillResult, seen: Observations, k2: str, returned: float) -> None:
    after = [o for o in seen.verified if o.at > returned and o.token_kid == k2]
    refused = [o.at - returned for o in after if not o.accepted]
    accepted = [o.at - returned for o in after if o.accepted]
    first_refusal = round(min(refused), 3) if refused else None
    last_accepted = round(max(accepted, default=0.0), 3)
    result.figure(FIRST_REFUSAL, first_refusal)
    result.figure("verifier: last K2 accepted after the commit, s", last_accepted)
    bound = PROPAGATION_BOUND_SECONDS + VERIFIER_MAX_CACHE_SECONDS + VERIFIER_REFETCH_SECONDS
    result.require(first_refusal is not None, "the verifier never refused a K2 token")
    result.require(
        last_accepted <= bound,
        f"the verifier accepted a K2 token {last_accepted:.2f} s after the revoke (bound {bound})",
    )
    others = [o for o in seen.verified if o.token_kid != k2]
    refused_others = [o for o in others if not o.accepted]
    result.figure(
        "verifier: other tokens, accepted / refused",
        f"{len(others) - len(refused_others)} / {len(refused_others)}",
    )
    result.require(
        not refused_others, f"the verifier refused {len(refused_others)} tokens of other keys"
    )
    result.figure(
        OTHERS_HIT,
        len(refused_others)
        + sum(1 for o in seen.introspected if o.token_kid != k2 and not o.accepted),
    )


def _check_signing(
    result: DrillResult, seen: Observations, k2: str, k3: str, returned: float
) -> None:
    after = [(at - returned, kid) for at, kid, _ in seen.issued if at > returned]
    signed_k2 = [delay for delay, kid in after if kid == k2]
    result.figure("tokens issued under load", len(seen.issued))
    result.figure(
        "tokens signed with K2 after the commit, last at s",
        f"{len(signed_k2)}, {round(max(signed_k2, default=0.0), 3)}",
    )
    result.require(
        max(signed_k2, default=0.0) <= PROPAGATION_BOUND_SECONDS,
        "a process signed with the revoked key later than the bound",
    )
    result.require(any(kid == k3 for _, kid in after), "no token signed with K3 after the revoke")


def _check_at_the_end(
    result: DrillResult,
    base_url: str,
    seed: Seed,
    old: list[str],
    compromised: list[str],
    seen: Observations,
    k2: str,
) -> None:
    """Once all is settled: every K2 token dead, every other token alive, at
    introspection and for a verifier that fetches the JWKS afresh."""
    issued = [token for _, _, token in seen.issued]
    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        Verifier(base_url, SERVICE_AUDIENCE) as fresh,
    ):
        jwks = [key["kid"] for key in http.get("/.well-known/jwks.json").json()["keys"]]
        result.require(k2 not in jwks, "the JWKS still lists the revoked key")
        wrong = 0
        for token in [*old, *compromised, *issued]:
            alive = _kid(token) != k2
            response = http.post("/introspect", data={"token": token}, auth=seed.introspector.auth)
            active = response.status_code == 200 and response.json().get("active") is True
            wrong += (active != alive) + (_accepts(fresh, token) != alive)
    result.figure(
        "tokens checked at the end (introspection and a fresh verifier)",
        len(old) + len(compromised) + len(issued),
    )
    result.require(wrong == 0, f"{wrong} answers at the end disagree with the revoke")
