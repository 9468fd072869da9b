"""Key rotation under load, with caching verifiers (SECURITY-CHECKLIST "Tests that must
exist" 8: "key rotation under load with caching verifiers → 0 failures").

`authserver serve --workers 2` with the signing keys in PostgreSQL. Under load (new
client_credentials tokens, each verified at once by `authserver.resource.Verifier`s that
cache the JWKS, and introspection of every token issued), `authserver keys rotate` runs
several times. What must hold (docs/keys.md, "Rotation"): every token issued is accepted
by every verifier and active at introspection, before and after each rotation, and every
answer is 200. Rotations keep to the documented notice: a `next` key is published for
AUTHSERVER_KEYS_PUBLISH_BEFORE_USE (at least the JWKS max-age plus the reload interval)
before it may sign, so a verifier honouring the JWKS's `Cache-Control` has it before the
first token it signs; the drill shortens those settings to seconds, not the rule.
"""

import random
import time
from collections.abc import Callable
from contextlib import ExitStack

import httpx
from compromise import Observation, Observations, _accepts, _issuer
from deployment import start_on_database_key_store
from outcome import DrillResult
from postgres import unreachable
from seeding import SERVICE_AUDIENCE, Credentials
from servers import run_cli
from traffic import Traffic, status_counts

from authserver.resource import Verifier

VERIFIERS = 2
JWKS_MAX_AGE_SECONDS = 1
RELOAD_SECONDS = 1
NOTICE_SECONDS = 3  # >= max-age + reload interval, as the settings require
# by quick: rotations, seconds of load between them (> NOTICE_SECONDS)
ROTATIONS = {False: (5, 4.0), True: (2, 3.5)}


def run(quick: bool, rng: random.Random) -> DrillResult:
    result = DrillResult("rotation", "keys rotate under load, caching verifiers")
    if (reason := unreachable()) is not None:
        result.skipped = reason
        return result
    rotations, pause = ROTATIONS[quick]
    with ExitStack() as stack:
        deployment = start_on_database_key_store(
            stack,
            families=1,
            AUTHSERVER_JWKS_MAX_AGE=str(JWKS_MAX_AGE_SECONDS),
            AUTHSERVER_KEYS_RELOAD_INTERVAL=str(RELOAD_SECONDS),
            AUTHSERVER_KEYS_PUBLISH_BEFORE_USE=str(NOTICE_SECONDS),
        )
        seed, environment = deployment.seed, deployment.environment
        base_url = deployment.server.base_url
        verifiers = [
            stack.enter_context(Verifier(base_url, SERVICE_AUDIENCE)) for _ in range(VERIFIERS)
        ]
        seen = Observations()
        traffic = Traffic()
        traffic.add("issue", _issuer(base_url, seed.service, seen))
        traffic.add("verify", _verify_each_new_token(verifiers, seen))
        traffic.add("introspect", _introspect_each_new_token(base_url, seed.introspector, seen))
        failed_rotations = []
        with traffic:
            time.sleep(NOTICE_SECONDS + 0.5)  # the first `next` key's notice
            for _ in range(rotations):
                rotated = run_cli(environment, "keys", "rotate", "--json")
                if rotated.returncode != 0:
                    failed_rotations.append(rotated.stderr.strip())
                time.sleep(pause + rng.random())
        result.require(traffic.failures == [], f"load threads failed: {traffic.failures}")
        result.require(not failed_rotations, f"keys rotate failed: {failed_rotations}")
        kids = {kid for _, kid, _ in seen.issued}
        result.figure("rotations", rotations)
        result.figure("signing keys seen in tokens", len(kids))
        result.figure("tokens issued", len(seen.issued))
        refused = [o for o in seen.verified if not o.accepted]
        inactive = [o for o in seen.introspected if not o.accepted]
        result.figure("verifications, refused", f"{len(seen.verified)}, {len(refused)}")
        result.figure("introspections, inactive", f"{len(seen.introspected)}, {len(inactive)}")
        result.figure("load answers by status", status_counts(traffic.exchanges))
        result.require(not refused, f"{len(refused)} verifications refused a token of ours")
        result.require(not inactive, f"{len(inactive)} tokens of ours introspected inactive")
        result.require(len(kids) > rotations, f"tokens carried {len(kids)} keys only")
        bad = [e for e in traffic.exchanges if e.status != 200]
        result.require(not bad, f"{len(bad)} answers other than 200: {status_counts(bad)}")
    result.headline = (
        f"{rotations} rotations, {len(seen.issued)} tokens, "
        f"{len(refused)} refused by a verifier, {len(inactive)} inactive"
    )
    return result


def _verify_each_new_token(
    verifiers: list[Verifier], seen: Observations
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        checked = 0
        while not traffic.stopping:
            for _, kid, token in seen.issued[checked:]:
                for verifier in verifiers:
                    seen.verified.append(Observation(time.time(), kid, _accepts(verifier, token)))
                checked += 1
            traffic.pause(0.01)

    return loop


def _introspect_each_new_token(
    base_url: str, introspector: Credentials, seen: Observations
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        checked = 0
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                for _, kid, token in seen.issued[checked:]:
                    exchange, response = traffic.call(
                        http, "introspect", "POST", "/introspect",
                        data={"token": token}, auth=introspector.auth,
                    )  # fmt: skip
                    if response is not None and exchange.status == 200:
                        active = response.json().get("active") is True
                        seen.introspected.append(Observation(time.time(), kid, active))
                    checked += 1
                traffic.pause(0.01)

    return loop
