"""Database outage: PostgreSQL stopped under mixed load, then started again.

The database is a private cluster (`postgres.private_cluster`), never the machine's
shared server. `authserver serve --workers 2` runs on it, once with the signing keys in
the database (AUTHSERVER_KEYS_STORE=database, a fleet's setting: the JWKS must keep
coming from memory while the database is gone) and, in the full run, once with the file
key store (the default). One thread each: client_credentials tokens, two refresh chains,
introspection, sign-ins (POST /login), the JWKS and discovery, /readyz.

Phases: `before`; `down`, from `pg_ctl stop -m fast` (sessions ended, open transactions
rolled back) until `pg_ctl start`; `after`, from the moment `pg_ctl start -w` says the
database accepts connections. A request that spans a change of phase is `transition`.
What must hold:

- never a 500, never a request without an answer, never a trace in a body;
- while down: the JWKS and discovery answer 200 (from memory); refresh, introspection
  and sign-in answer 503 with `Retry-After` (RFC 6749 §4.1.2.1 `temporarily_unavailable`
  in the JSON ones); a client_credentials token may still be 200 while its client is
  cached, since it stores nothing (its audit event is queued);
- no 200 for a write that did not commit: after the drill, each 200 of /token has its
  `token.issued` audit event stored (matched by X-Request-ID), each refresh's new token
  is stored, and each sign-in answered 303 has a session that works;
- recovery: no failure for a request started more than RECOVERY_BOUND_SECONDS after the
  database was back.
"""

import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from outcome import DrillResult
from postgres import PrivateCluster, cluster_missing, private_cluster
from seeding import Credentials, Family, Seed, seed_database
from servers import Server, drill_environment
from sqlalchemy import create_engine, select, text
from sqlmodel import col
from traffic import Exchange, Traffic, status_counts

from authserver.audit.models import AuditEvent
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.tokens.models import RefreshToken

RECOVERY_BOUND_SECONDS = 5.0
RECOVERED = "recovery after the database was back, s"
PHASES = {False: (4.0, 6.0, 8.0), True: (2.0, 3.0, 6.5)}  # before, down, after; by quick
PAUSE_AFTER_FAILURE = 0.05
SIGN_IN_EVERY = 0.3  # seconds between sign-ins: each costs an argon2id hash
OK = {"login": 303}
MEMORY_KINDS = ("jwks", "discovery")
JSON_KINDS = ("token", "refresh", "introspect")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Timeline:
    stop_began: float = float("inf")
    stopped: float = float("inf")
    start_began: float = float("inf")
    back: float = float("inf")

    def phase(self, exchange: Exchange) -> str:
        if exchange.ended < self.stop_began:
            return "before"
        if exchange.started > self.stopped and exchange.ended < self.start_began:
            return "down"
        if exchange.started > self.back:
            return "after"
        return "transition"


@dataclass
class Ledger:
    """Rotations (presented token, successor, request id), sign-ins (session cookies)."""

    rotations: list[tuple[str, str, str | None]] = field(default_factory=list)
    unanswered_rotations: list[str] = field(default_factory=list)  # answered 503
    refused_after_503: list[str] = field(default_factory=list)  # then 400 when tried again
    refused: list[str] = field(default_factory=list)  # any other answer
    sessions: list[dict[str, str]] = field(default_factory=list)


def run(quick: bool, rng: random.Random) -> DrillResult:
    result = DrillResult("outage", "PostgreSQL stopped and started under mixed load")
    if (reason := cluster_missing()) is not None:
        result.skipped = reason
        return result
    stores = ["database"] if quick else ["database", "file"]
    totals: dict[str, int] = {}
    for store in stores:
        _run_with_store(result, store, quick, totals)
    recoveries = [str(result.figures[f"{store}: {RECOVERED}"]) for store in stores]
    result.headline = (
        f"key store {'+'.join(stores)}; statuses {status_text(totals)}; "
        f"recovered in {' / '.join(recoveries)} s"
    )
    return result


def status_text(counts: dict[str, int]) -> str:
    return " ".join(f"{status}:{count}" for status, count in sorted(counts.items()))


def _run_with_store(result: DrillResult, store: str, quick: bool, totals: dict[str, int]) -> None:
    before, down, after = PHASES[quick]
    with ExitStack() as stack:
        cluster = stack.enter_context(private_cluster())
        database_url = _create_database(cluster)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authserver-drill-")))
        seed = seed_database(database_url, families=40)
        environment = drill_environment(database_url, workdir / "keys", AUTHSERVER_KEYS_STORE=store)
        server = stack.enter_context(Server(environment, workdir / "server.log", workers=2))
        ledger, timeline = Ledger(), Timeline()
        traffic = _mixed_load(server.base_url, seed, ledger)
        with traffic:
            time.sleep(before)
            timeline.stop_began = time.monotonic()
            cluster.stop("fast")
            timeline.stopped = time.monotonic()
            time.sleep(down)
            timeline.start_began = time.monotonic()
            cluster.start()
            timeline.back = time.monotonic()
            time.sleep(after)
        exchanges = traffic.exchanges
        prefix = f"{store}: "
        result.require(not traffic.failures, f"{prefix}load threads failed: {traffic.failures}")
        result.figure(prefix + "database down, s", timeline.start_began - timeline.stopped)
        _figure_phases(result, prefix, exchanges, timeline)
        _check_answers(result, prefix, exchanges, timeline)
        _check_recovery(result, prefix, exchanges, timeline)
        _check_sessions(result, prefix, server.base_url, seed, ledger)
        server.stop()  # its audit queue is written out at shutdown
        _check_writes(result, prefix, database_url, traffic, ledger)
        _figure_log(result, prefix, server.log_text())
        for exchange in exchanges:
            key = "error" if exchange.status is None else str(exchange.status)
            totals[key] = totals.get(key, 0) + 1


def _create_database(cluster: PrivateCluster) -> str:
    engine = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text('CREATE DATABASE "authserver"'))
    finally:
        engine.dispose()
    return cluster.url("authserver")


def _mixed_load(base_url: str, seed: Seed, ledger: Ledger) -> Traffic:
    families = iter(seed.families)
    introspected = _access_token(base_url, seed, next(families))
    traffic = Traffic()
    traffic.add("token", _tokens(base_url, seed.service))
    for number in range(2):
        traffic.add(f"refresh-{number}", _refresher(base_url, seed.web_app, families, ledger))
    traffic.add("introspect", _introspector(base_url, seed.introspector, introspected))
    traffic.add("login", _signer_in(base_url, seed, ledger))
    traffic.add("documents", _documents(base_url))
    traffic.add("readyz", _readiness(base_url))
    return traffic


def _access_token(base_url: str, seed: Seed, family: Family) -> str:
    response = httpx.post(
        f"{base_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": family.refresh_token},
        auth=seed.web_app.auth,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _tokens(base_url: str, service: Credentials) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                data = {"grant_type": "client_credentials"}
                exchange, _ = traffic.call(
                    http, "token", "POST", "/token", data=data, auth=service.auth
                )
                if exchange.status != 200:
                    traffic.pause(PAUSE_AFTER_FAILURE)

    return loop


def _refresher(
    base_url: str, client: Credentials, families: Iterator[Family], ledger: Ledger
) -> Callable[[Traffic], None]:
    """A client that keeps its token after a 503 and tries it again, as RFC 6749 §4.1.2.1
    invites (sooner than the Retry-After, to see the recovery to a tenth of a second)."""

    def loop(traffic: Traffic) -> None:
        family = next(families, None)
        after_503 = False
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while family is not None and not traffic.stopping:
                data = {"grant_type": "refresh_token", "refresh_token": family.refresh_token}
                exchange, response = traffic.call(
                    http, "refresh", "POST", "/token", data=data, auth=client.auth
                )
                if response is not None and exchange.status == 200:
                    successor = response.json()["refresh_token"]
                    ledger.rotations.append((family.refresh_token, successor, exchange.request_id))
                    family, after_503 = Family(family.id, successor), False
                    continue
                if exchange.status == 503:
                    ledger.unanswered_rotations.append(family.refresh_token)
                    after_503 = True
                else:
                    # A 400 after a 503 is explained only if that rotation had committed
                    # (the retry is then a reuse): `_check_writes` asks the database.
                    refused = ledger.refused_after_503 if after_503 else ledger.refused
                    refused.append(family.refresh_token)
                    family, after_503 = next(families, None), False
                traffic.pause(PAUSE_AFTER_FAILURE)

    return loop


def _introspector(
    base_url: str, introspector: Credentials, token: str
) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                exchange, _ = traffic.call(
                    http,
                    "introspect",
                    "POST",
                    "/introspect",
                    data={"token": token},
                    auth=introspector.auth,
                )
                if exchange.status != 200:
                    traffic.pause(PAUSE_AFTER_FAILURE)

    return loop


def _signer_in(base_url: str, seed: Seed, ledger: Ledger) -> Callable[[Traffic], None]:
    """Sign-ins with one CSRF cookie and token (taken before the outage: they need no
    database), each from a browser without a session."""

    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as first:
            page = first.get("/login")
            csrf_token = _CSRF.search(page.text)
            if page.status_code != 200 or csrf_token is None:
                raise RuntimeError(f"GET /login answered {page.status_code} without a form")
            cookies = dict(first.cookies)
        form = {
            "csrf_token": csrf_token.group(1),
            "username": seed.username,
            "password": seed.password,
        }
        while not traffic.stopping:
            with httpx.Client(base_url=base_url, timeout=30, cookies=cookies) as browser:
                exchange, response = traffic.call(browser, "login", "POST", "/login", data=form)
                if response is not None and exchange.status == 303:
                    ledger.sessions.append(dict(browser.cookies))
            traffic.pause(SIGN_IN_EVERY)

    return loop


def _documents(base_url: str) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                traffic.call(http, "jwks", "GET", "/.well-known/jwks.json")
                traffic.call(http, "discovery", "GET", "/.well-known/openid-configuration")
                traffic.pause(0.02)

    return loop


def _readiness(base_url: str) -> Callable[[Traffic], None]:
    def loop(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                traffic.call(http, "readyz", "GET", "/readyz")
                traffic.pause(0.1)

    return loop


def _ok(exchange: Exchange) -> bool:
    return exchange.status == OK.get(exchange.kind, 200)


def _figure_phases(
    result: DrillResult, prefix: str, exchanges: list[Exchange], timeline: Timeline
) -> None:
    kinds = sorted({e.kind for e in exchanges})
    for phase in ("before", "down", "transition", "after"):
        in_phase = [e for e in exchanges if timeline.phase(e) == phase]
        counts = {
            kind: status_text(status_counts([e for e in in_phase if e.kind == kind]))
            for kind in kinds
        }
        result.figure(f"{prefix}{phase}", {k: v for k, v in counts.items() if v})


def _check_answers(
    result: DrillResult, prefix: str, exchanges: list[Exchange], timeline: Timeline
) -> None:
    for exchange in exchanges:
        phase = timeline.phase(exchange)
        where = f"{prefix}{exchange.kind} ({phase})"
        if exchange.status is None:
            result.violate(f"{where}: no answer ({exchange.error})")
            continue
        result.require(exchange.status != 500, f"{where}: 500 {exchange.body[:200]!r}")
        result.require(
            not exchange.leaks_a_trace, f"{where}: a trace in the body {exchange.body[:300]!r}"
        )
        if exchange.status == 503 and exchange.kind != "readyz":  # a probe: 503 is its answer
            result.require(exchange.retry_after is not None, f"{where}: 503 without Retry-After")
            if exchange.kind in JSON_KINDS:
                code = exchange.error_code()
                result.require(
                    code == "temporarily_unavailable", f"{where}: 503 with error {code!r}"
                )
        if phase == "down":
            _check_down(result, where, exchange)
        elif not _ok(exchange) and exchange.status != 503 and exchange.kind != "refresh":
            result.violate(f"{where}: {exchange.status} {exchange.body[:200]!r}")


def _check_down(result: DrillResult, where: str, exchange: Exchange) -> None:
    if exchange.kind in MEMORY_KINDS:
        result.require(exchange.status == 200, f"{where}: {exchange.status}, not 200 from memory")
    elif exchange.kind == "token":
        result.require(exchange.status in (200, 503), f"{where}: {exchange.status}")
    elif exchange.kind == "readyz":
        result.require(
            exchange.status == 503, f"{where}: {exchange.status} while the database is down"
        )
    else:
        result.require(exchange.status == 503, f"{where}: {exchange.status}, not 503")


def _check_recovery(
    result: DrillResult, prefix: str, exchanges: list[Exchange], timeline: Timeline
) -> None:
    after = [e for e in exchanges if e.started > timeline.back]
    failures = [e for e in after if not _ok(e)]
    recovery = max((e.ended - timeline.back for e in failures), default=0.0)
    result.figure(prefix + RECOVERED, round(recovery, 2))
    result.require(
        recovery <= RECOVERY_BOUND_SECONDS,
        f"{prefix}answers failed until {recovery:.2f} s after the database was back "
        f"(bound {RECOVERY_BOUND_SECONDS:.0f} s): {status_counts(failures)}",
    )
    for kind in sorted({e.kind for e in exchanges}):
        successes = [e.ended - timeline.back for e in after if e.kind == kind and _ok(e)]
        result.require(bool(successes), f"{prefix}{kind}: no success after the database was back")


def _check_sessions(
    result: DrillResult, prefix: str, base_url: str, seed: Seed, ledger: Ledger
) -> None:
    """Each sign-in answered 303 started a stored session: /login shows its user."""
    working = 0
    for cookies in ledger.sessions:
        page = httpx.get(f"{base_url}/login", cookies=cookies, timeout=30)
        working += page.status_code == 200 and seed.username in page.text
    result.figure(
        prefix + "sign-ins answered 303, sessions working afterwards",
        f"{len(ledger.sessions)}, {working}",
    )
    result.require(
        working == len(ledger.sessions),
        f"{prefix}{len(ledger.sessions) - working} sessions of a 303 do not work",
    )


def _check_writes(
    result: DrillResult, prefix: str, database_url: str, traffic: Traffic, ledger: Ledger
) -> None:
    database = Database(database_url)
    try:
        with database.reading() as db:
            stored = set(db.execute(select(RefreshToken.token_hash)).scalars())
            consumed = set(
                db.execute(
                    select(RefreshToken.token_hash).where(
                        col(RefreshToken.consumed_at).is_not(None)
                    )
                ).scalars()
            )
            audited = set(
                db.execute(
                    select(AuditEvent.request_id).where(AuditEvent.event == "token.issued")
                ).scalars()
            )
    finally:
        database.dispose()
    lost = [s for _, s, _ in ledger.rotations if opaque_hash(s) not in stored]
    result.require(
        not lost, f"{prefix}{len(lost)} refresh tokens answered with a 200 are not stored"
    )
    issued = [e for e in traffic.exchanges if e.kind in ("token", "refresh") and e.status == 200]
    unaudited = [e for e in issued if e.request_id not in audited]
    result.figure(
        prefix + "tokens answered 200, audit events stored",
        f"{len(issued)}, {len(issued) - len(unaudited)}",
    )
    result.require(
        not unaudited, f"{prefix}{len(unaudited)} tokens answered 200 have no stored audit event"
    )
    rotated = {presented for presented, _, _ in ledger.rotations}
    committed_503 = {
        token
        for token in ledger.unanswered_rotations
        if opaque_hash(token) in consumed and token not in rotated
    }
    result.figure(prefix + "rotations answered 503 that had committed", len(committed_503))
    unexplained = [t for t in ledger.refused_after_503 if t not in committed_503]
    result.require(
        not ledger.refused and not unexplained,
        f"{prefix}refreshes refused: {len(ledger.refused)} (any time), "
        f"{len(unexplained)} (retried after a 503 for a rotation that had not committed)",
    )
    committed_503 = len(committed_503)
    if committed_503:
        result.find(
            f"{prefix}{committed_503} refresh rotations were answered 503 although they had "
            "committed: the client's retry of that token is a reuse and revoked its family"
        )


def _figure_log(result: DrillResult, prefix: str, log: str) -> None:
    """Tracebacks are no answer's business, but an expected outage should not fill the
    log with them: counted, and reported as a finding."""
    tracebacks = log.count("Traceback")
    escaped = log.count("Exception in ASGI application")
    result.figure(prefix + "tracebacks in the server log", tracebacks)
    result.figure(prefix + "  of which uvicorn's 'Exception in ASGI application'", escaped)
    if tracebacks:
        pages = log.count("unhandled error on /")
        result.find(
            f"{prefix}the server log holds {tracebacks} tracebacks for an expected outage: "
            f"{pages} 'unhandled error on <page>' (logged with exc_info by app.py's catch-all "
            f"handler) and {escaped} uvicorn 'Exception in ASGI application' for the same "
            "requests (Starlette re-raises after the Exception handler has sent its 503); "
            "the clients got a clean 503 page"
        )
