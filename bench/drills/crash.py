"""Crash consistency: `kill -9` of a server worker under a refresh load, on PostgreSQL.

`authserver serve --workers 2` on a throwaway database; THREADS clients each rotate a
refresh-token family as fast as the server answers (RFC 6749 §6). Each cycle kills one
worker, at a random moment, with SIGKILL; uvicorn's supervisor starts a replacement,
and the next cycle waits until it serves. A request the killed worker held gets no
answer: its rotation may have committed or not, and the client cannot know. Such a
family is left "in doubt" (a careful client would not present that token again: with
no reuse grace that revokes the family, RFC 9700 §4.14.2) and the client goes on with
a fresh family.

Afterwards, what the clients saw is held against the database and the server:

- every family: at most one live (unconsumed) refresh token, no token rotated twice
  (a fork), every rotated token consumed, no family revoked (no client reused a token);
- every refresh token acknowledged with a 200 is stored and either consumed by the
  client's own later refresh or still usable (a final refresh of it answers 200);
- a token in doubt was either not rotated (still usable: refreshed at the end) or
  rotated once, its successor live and never seen by the client;
- rotated tokens answer `active: false` at introspection (a sample), the live ones
  `active: true`.
"""

import os
import random
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from outcome import DrillResult
from postgres import throwaway_database, unreachable
from seeding import Credentials, Family, Seed, seed_database
from servers import Server, drill_environment
from sqlalchemy import select
from sqlmodel import col
from traffic import Traffic, status_counts

from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.tokens.models import RefreshToken, TokenFamily

CYCLES = 50
QUICK_CYCLES = 3
THREADS = 4
REPLACEMENT_TIMEOUT_SECONDS = 60.0
INTROSPECTED_SAMPLE = 200
QUICK_INTROSPECTED_SAMPLE = 50
LOG_PROBLEMS = ("ERROR:", "CRITICAL:", "Traceback")


@dataclass
class Ledger:
    """What the clients know. Tokens by value; `family_of` every token they received
    (the seeded ones included), `successor_of` every token a 200 rotated."""

    family_of: dict[str, str] = field(default_factory=dict)
    successor_of: dict[str, str] = field(default_factory=dict)
    in_doubt: dict[str, str] = field(default_factory=dict)  # presented, no answer
    held: dict[str, str] = field(default_factory=dict)  # last token of a family at the stop
    refused: list[str] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)  # families the clients used
    lock: threading.Lock = field(default_factory=threading.Lock)


class FamilyPool:
    def __init__(self, families: list[Family]) -> None:
        self._families = list(reversed(families))
        self._lock = threading.Lock()

    def take(self) -> Family | None:
        with self._lock:
            return self._families.pop() if self._families else None


def run(quick: bool, rng: random.Random) -> DrillResult:
    result = DrillResult("crash", "kill -9 of a worker under refresh load, PostgreSQL")
    if (reason := unreachable()) is not None:
        result.skipped = reason
        return result
    cycles = QUICK_CYCLES if quick else CYCLES
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authserver-drill-")))
        database_url = stack.enter_context(throwaway_database())
        seed = seed_database(database_url, families=THREADS * (cycles + 2))
        environment = drill_environment(database_url, workdir / "keys")
        server = stack.enter_context(Server(environment, workdir / "server.log", workers=2))
        ledger = Ledger()
        for family in seed.families:
            ledger.family_of[family.refresh_token] = family.id
        pool = FamilyPool(seed.families)
        traffic = Traffic()
        for number in range(THREADS):
            traffic.add(
                f"refresh-{number}", _refresher(server.base_url, seed.web_app, pool, ledger)
            )
        with traffic:
            replacements = _kill_cycles(server, cycles, rng, result)
        result.require(not traffic.failures, f"load threads failed: {traffic.failures}")
        exchanges = traffic.exchanges
        result.figure("cycles", cycles)
        result.figure("requests", len(exchanges))
        result.figure("answers by status", status_counts(exchanges))
        _figure_replacements(result, replacements)
        _check_database(result, database_url, ledger)
        _check_over_http(result, server.base_url, seed, ledger, quick, rng)
        result.figure("errors in the server log", _log_errors(server))
        _figure_supervisor(result, server, len(replacements))
    result.headline = (
        f"{cycles} cycles, {result.figures['requests']} requests, "
        f"{len(result.violations)} violations"
    )
    return result


def _refresher(
    base_url: str, client: Credentials, pool: FamilyPool, ledger: Ledger
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        family = pool.take()
        with httpx.Client(base_url=base_url, timeout=10) as http:
            while family is not None and not traffic.stopping:
                with ledger.lock:
                    ledger.taken.add(family.id)
                data = {"grant_type": "refresh_token", "refresh_token": family.refresh_token}
                exchange, response = traffic.call(
                    http, "refresh", "POST", "/token", data=data, auth=client.auth
                )
                if response is not None and exchange.status == 200:
                    successor = response.json()["refresh_token"]
                    with ledger.lock:
                        ledger.successor_of[family.refresh_token] = successor
                        ledger.family_of[successor] = family.id
                    family = Family(family.id, successor)
                    continue
                with ledger.lock:
                    if exchange.status is None or exchange.status == 503:
                        ledger.in_doubt[family.refresh_token] = family.id
                    else:
                        ledger.refused.append(
                            f"family {family.id}: refresh answered {exchange.status} "
                            f"{exchange.body[:200]!r}"
                        )
                family = pool.take()
        if family is not None:
            with ledger.lock:
                ledger.held[family.refresh_token] = family.id

    return loop


def _kill_cycles(
    server: Server, cycles: int, rng: random.Random, result: DrillResult
) -> list[float]:
    """Each cycle: load on two workers for a random 0.3-1.2 s, SIGKILL one of them, wait
    until the supervisor's replacement serves. The seconds each replacement took."""
    replacements = []
    for cycle in range(cycles):
        time.sleep(rng.uniform(0.3, 1.2))
        workers = server.worker_pids()
        if len(workers) != 2:
            result.violate(f"cycle {cycle + 1}: {len(workers)} workers before the kill, not 2")
            break
        started = server.startups()
        victim = rng.choice(workers)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        try:
            server.wait_until_serving(started + 1, REPLACEMENT_TIMEOUT_SECONDS)
        except RuntimeError as error:
            result.violate(f"cycle {cycle + 1}: no replacement worker: {error}")
            break
        replacements.append(time.monotonic() - killed_at)
        print(
            f"   cycle {cycle + 1}/{cycles}: worker {victim} killed, its replacement served "
            f"after {replacements[-1]:.1f} s",
            flush=True,
        )
    return replacements


def _figure_replacements(result: DrillResult, replacements: list[float]) -> None:
    result.figure("workers killed and replaced", len(replacements))
    if replacements:
        result.figure("replacement serving after kill, median s", statistics.median(replacements))
        result.figure("replacement serving after kill, max s", max(replacements))


@dataclass(frozen=True)
class StoredToken:
    family_id: str
    parent_hash: str | None
    consumed_at: datetime | None


def _check_database(result: DrillResult, database_url: str, ledger: Ledger) -> None:
    database = Database(database_url)
    try:
        with database.reading() as db:
            rows = db.execute(
                select(
                    RefreshToken.token_hash,
                    RefreshToken.family_id,
                    RefreshToken.parent_hash,
                    RefreshToken.consumed_at,
                )
            ).all()
            revoked = db.execute(
                select(TokenFamily.id).where(col(TokenFamily.revoked_at).is_not(None))
            ).all()
    finally:
        database.dispose()
    stored = {row[0]: StoredToken(row[1], row[2], row[3]) for row in rows}
    children: dict[str, list[str]] = {}
    for token_hash, token in stored.items():
        if token.parent_hash is not None:
            children.setdefault(token.parent_hash, []).append(token_hash)
    _check_families(result, stored, children, [row[0] for row in revoked])
    _check_ledger(result, stored, children, ledger)


def _check_families(
    result: DrillResult,
    stored: dict[str, StoredToken],
    children: dict[str, list[str]],
    revoked: list[str],
) -> None:
    live = Counter(t.family_id for t in stored.values() if t.consumed_at is None)
    families = {t.family_id for t in stored.values()}
    result.figure("families in the database", len(families))
    result.figure("refresh tokens in the database", len(stored))
    for family_id, count in live.items():
        result.require(count <= 1, f"family {family_id} has {count} live refresh tokens")
    for parent, kids in children.items():
        # RFC 9700 §4.14.2: a token rotates once; two children are a fork of the family.
        result.require(len(kids) == 1, f"token {parent[:12]}... was rotated {len(kids)} times")
        result.require(
            parent in stored and stored[parent].consumed_at is not None,
            f"token {parent[:12]}... was rotated but is not consumed",
        )
    result.require(not revoked, f"{len(revoked)} families revoked, though no client reused a token")


def _check_ledger(
    result: DrillResult,
    stored: dict[str, StoredToken],
    children: dict[str, list[str]],
    ledger: Ledger,
) -> None:
    for message in ledger.refused:
        result.violate(message)
    acknowledged = 0
    for presented, successor in ledger.successor_of.items():
        acknowledged += 1
        row = stored.get(opaque_hash(successor))
        if row is None:
            family_id = ledger.family_of[successor]
            result.violate(f"a refresh token acknowledged with a 200 is not stored ({family_id})")
            continue
        result.require(
            row.parent_hash == opaque_hash(presented),
            f"an acknowledged token's parent is not the token presented ({row.family_id})",
        )
        consumed = stored.get(opaque_hash(presented))
        result.require(
            consumed is not None and consumed.consumed_at is not None,
            f"a token rotated with a 200 is still live ({ledger.family_of[presented]})",
        )
    result.figure("refresh tokens acknowledged with a 200", acknowledged)
    rotated_in_doubt = 0
    for token, family_id in ledger.in_doubt.items():
        row = stored.get(opaque_hash(token))
        kids = children.get(opaque_hash(token), [])
        if row is None:
            result.violate(f"a token in doubt is not stored ({family_id})")
        elif row.consumed_at is None and not kids:
            continue  # not rotated: the final refresh must succeed
        elif row.consumed_at is not None and len(kids) == 1 and stored[kids[0]].consumed_at is None:
            rotated_in_doubt += 1  # rotated, the answer lost with the worker
        else:
            result.violate(
                f"a token in doubt ended neither live nor rotated once ({family_id}: "
                f"consumed={row.consumed_at is not None}, children={len(kids)})"
            )
    result.figure("answers lost to a kill (in doubt)", len(ledger.in_doubt))
    result.figure("  of which committed (rotated, successor never seen)", rotated_in_doubt)
    for token, family_id in ledger.held.items():
        row = stored.get(opaque_hash(token))
        result.require(
            row is not None and row.consumed_at is None and not children.get(opaque_hash(token)),
            f"the last acknowledged token of family {family_id} is not live",
        )
    known = {opaque_hash(token) for token in ledger.family_of}
    lost_successors = {
        kid for token in ledger.in_doubt for kid in children.get(opaque_hash(token), [])
    }
    unexplained = [
        h
        for h, row in stored.items()
        if row.family_id in ledger.taken and h not in known and h not in lost_successors
    ]
    result.require(
        not unexplained,
        f"{len(unexplained)} stored refresh tokens were never acknowledged nor lost with a kill",
    )


def _check_over_http(
    result: DrillResult,
    base_url: str,
    seed: Seed,
    ledger: Ledger,
    quick: bool,
    rng: random.Random,
) -> None:
    """Rotated tokens inactive at introspection (RFC 7662 §2.2), and every token the
    clients still hold (or hold in doubt, not rotated) usable: one last refresh each."""
    rotated = list(ledger.successor_of)
    sample = rng.sample(
        rotated, min(len(rotated), QUICK_INTROSPECTED_SAMPLE if quick else INTROSPECTED_SAMPLE)
    )
    usable = [*ledger.held.items(), *ledger.in_doubt.items()]
    with httpx.Client(base_url=base_url, timeout=30) as http:
        active_rotated = sum(_active(http, seed.introspector, token) for token in sample)
        result.require(active_rotated == 0, f"{active_rotated} rotated tokens introspect active")
        result.figure("rotated tokens introspected (all inactive)", len(sample))
        refreshed = 0
        for token, family_id in usable:
            if token in ledger.in_doubt and not _active(http, seed.introspector, token):
                continue  # rotated in doubt: checked in the database
            response = http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": token},
                auth=seed.web_app.auth,
            )
            result.require(
                response.status_code == 200,
                f"family {family_id}: its live token refreshed with {response.status_code}",
            )
            refreshed += response.status_code == 200
    result.figure("live tokens refreshed at the end (all 200)", refreshed)


def _active(http: httpx.Client, introspector: Credentials, token: str) -> bool:
    response = http.post(
        "/introspect",
        data={"token": token, "token_type_hint": "refresh_token"},
        auth=introspector.auth,
    )
    return response.status_code == 200 and response.json().get("active") is True


def _log_errors(server: Server) -> int:
    return sum(1 for line in server.log_text().splitlines() if line.startswith(LOG_PROBLEMS))


def _figure_supervisor(result: DrillResult, server: Server, kills: int) -> None:
    """uvicorn's supervisor also replaces a worker that does not answer its health check
    within 5 s, a slow start included: those deaths are not ours."""
    deaths = server.log_text().count("] died")
    result.figure(
        "worker deaths the supervisor saw (ours + its own)",
        f"{deaths} ({kills} + {deaths - kills})",
    )
    if deaths > kills:
        result.find(
            f"{deaths - kills} worker deaths were not ours, with no error logged: most likely "
            "uvicorn's supervisor killing starting workers it took for hung (a worker answers "
            "its health-check ping only once the spawned process has imported the `authserver` "
            "CLI, and the supervisor waits 5 s, timeout_worker_healthcheck); on a busy machine "
            "that makes the slowest replacements slow"
        )
