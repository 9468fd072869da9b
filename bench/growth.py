"""Refresh and introspection as the token tables grow to a million rows (issue 11, bench/README.md).

    .venv/bin/python bench/growth.py                              # 1,000 / 100,000 / 1,000,000
    .venv/bin/python bench/growth.py --sizes 1000,20000 --seconds 5

On a throwaway PostgreSQL database (`authserver_bench_<hex>`, made and dropped through
BENCH_POSTGRES_URL as bench/run.sh does, at exit whatever happened, Ctrl-C included),
for each size in turn: grows `token_families` (each with one live refresh token) and
`revoked_access_tokens` to that many rows (bench/growth_seed.py), runs VACUUM (ANALYZE)
and CHECKPOINT, starts `authserver serve --workers 2 --no-access-log`, and measures with
`wrk -t2 -c16`:

- refresh rotations/s, p50, p99: bench/refresh.lua over fresh chains, 2 s of warm-up then
  `--seconds`; afterwards the database must show no family revoked, one live token per
  chain and as many rotations as wrk read, give or take the requests in flight;
- introspections/s, p50, p99 of users' access tokens (one refresh per family first, as
  `seed_families.py prime` does): bench/lua/compare.lua, every answer `"active":true`;
- the server's and PostgreSQL's CPU milliseconds per request (bench/cputime.py);

then, with the server stopped, `EXPLAIN (ANALYZE, BUFFERS)` of the statements those paths
run (bench/growth_plans.py). It prints the table and the plans' scans, and writes every
plan and the figures (growth.json) to `--out`.
"""

import argparse
import base64
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from compare_measure import Load, MeasurementError, Target, run_wrk, wrk_output
from compare_servers import ServerError, our_environment
from cputime import machine_ticks, read_processes, since
from growth_plans import Plan, PlanValues, capture_plans
from growth_seed import (
    Principals,
    fill_deny_list,
    fill_families,
    find_principals,
    libpq_conninfo,
    seed_groups,
    settle,
    table_sizes,
)
from seed_families import chains, createdb, dropdb, ping, prime, seed
from serving import ServedAuthserver, load_averages, serve

ROOT = Path(__file__).resolve().parent.parent
REFRESH_LUA = ROOT / "bench" / "refresh.lua"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REFRESH_MUST_BE_ZERO = (
    "non-200 responses",
    "responses without a refresh_token",
    "requests without a live token",
)


@dataclass(frozen=True)
class Config:
    sizes: list[int]
    seconds: int
    warmup_seconds: int
    workers: int
    load: Load
    admin_url: str
    out: Path


@dataclass(frozen=True)
class Rate:
    """One measured wrk run, with the CPU it cost."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    postgres_cpu_ms: float
    others_cpu_percent: float


@dataclass(frozen=True)
class Step:
    size: int
    rows: dict[str, tuple[int, int]]
    seed_seconds: float
    refresh: Rate
    introspection: Rate
    plans: list[Plan]
    load_averages: str
    log_problems: list[str]


@dataclass
class Run:
    """The run's database and files, and what a step needs of them."""

    config: Config
    workdir: Path
    database_url: str
    database_name: str
    principals: Principals
    refresh_authorization: str
    introspect_authorization: str

    @property
    def conninfo(self) -> str:
        return libpq_conninfo(self.database_url)

    def environment(self) -> dict[str, str]:
        """bench/compare.py's server settings (development mode, no client rate limit,
        refresh defaults: no idle expiry, no reuse grace) on this run's database."""
        return our_environment(self.workdir) | {"AUTHSERVER_DATABASE_URL": self.database_url}


def parse_arguments(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="rows, comma-separated")
    parser.add_argument("--seconds", type=int, default=10, help="each measured wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="each warm-up wrk run, seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="a server to CREATE/DROP DATABASE through (default: BENCH_POSTGRES_URL or local)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "growth")
    arguments = parser.parse_args(argv)
    sizes = sorted({int(word) for word in arguments.sizes.split(",") if word.strip()})
    if not sizes or sizes[0] < 100:
        parser.error("--sizes: at least one size, each of at least 100 rows")
    if min(arguments.seconds, arguments.warmup, arguments.workers, arguments.threads) < 1:
        parser.error("--seconds, --warmup, --workers and --threads must be at least 1")
    # refresh.lua deals token i to thread i mod threads: one more than its connections.
    if arguments.connections % arguments.threads:
        parser.error("--connections must be a multiple of --threads")
    return Config(
        sizes=sizes,
        seconds=arguments.seconds,
        warmup_seconds=arguments.warmup,
        workers=arguments.workers,
        load=Load(arguments.threads, arguments.connections),
        admin_url=arguments.admin_url,
        out=arguments.out,
    )


def main(argv: list[str]) -> int:
    config = parse_arguments(argv)
    if shutil.which("wrk") is None:
        print("growth: wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 1
    # SIGTERM unwinds like Ctrl-C: the server, the database and the temp dir go in both cases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before, started = load_averages(), time.monotonic()
    try:
        steps = run(config)
    except (MeasurementError, ServerError, httpx.HTTPError, psycopg.Error) as error:
        print(f"growth: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("growth: interrupted", file=sys.stderr)
        return 130
    report(config, steps)
    print(f"load average before: {load_before}   after: {load_averages()}")
    print(f"whole run: {time.monotonic() - started:.0f} s")
    return 0 if not any(step.log_problems for step in steps) else 1


def run(config: Config) -> list[Step]:
    try:
        ping(config.admin_url)
    except SystemExit as error:
        raise MeasurementError(f"no PostgreSQL answers at {config.admin_url}: {error}") from None
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="authserver-growth."))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        # Named before it exists, so that even an interruption right after CREATE drops it.
        name = f"authserver_bench_{secrets.token_hex(6)}"
        stack.callback(_drop, config.admin_url, name)
        say(f"PostgreSQL database {name}")
        database_url = _quiet(createdb, config.admin_url, name).strip()
        seed(database_url, str(workdir / "seed"), ["check=1"])
        clients = json.loads((workdir / "seed" / "clients.json").read_text())
        current = Run(
            config,
            workdir,
            database_url,
            name,
            find_principals(libpq_conninfo(database_url)),
            clients["refresh_authorization"],
            clients["introspect_authorization"],
        )
        config.out.mkdir(parents=True, exist_ok=True)
        steps = []
        for size in config.sizes:
            steps.append(measure(current, size))
            _write_json(config, steps)
        return steps


def measure(run: Run, size: int) -> Step:
    config = run.config
    directory = run.workdir / f"rows-{size}"
    chain_count = config.load.connections + config.load.threads
    started = time.monotonic()
    say(f"{size:,} rows: seeding families and deny-list entries")
    groups = {"warmup": chain_count, "refresh": chain_count, "introspect": config.load.connections}
    seed_groups(run.database_url, run.principals, directory, groups | {"plan": 1})
    fill_families(run.conninfo, run.principals, size)
    fill_deny_list(run.conninfo, size)
    note = settle(run.conninfo)
    seed_seconds = time.monotonic() - started
    rows = table_sizes(run.conninfo)
    say(f"seeded in {seed_seconds:.0f} s: {_rows_text(rows)}")
    if note:
        say(note)
    server = serve(run.environment(), run.workdir, config.workers)
    try:
        say(f"{size:,} rows: server at {server.base_url}; one refresh per introspection family")
        _prime(server.base_url, run.refresh_authorization, directory / "introspect")
        refresh = measure_refresh(run, server, directory, chain_count)
        introspection = measure_introspection(run, server, directory / "introspect.access")
        problems = server.log_problems()
    finally:
        server.stop()
    plans = capture_plans(run.database_url, _plan_values(run, directory, size))
    _write_plans(config.out / f"rows-{size}", plans)
    step = Step(size, rows, seed_seconds, refresh, introspection, plans, load_averages(), problems)
    say(
        f"{size:,} rows: {refresh.per_second:.0f} rotations/s (p99 {refresh.p99_ms:.0f} ms), "
        f"{introspection.per_second:.0f} introspections/s (p99 {introspection.p99_ms:.0f} ms); "
        f"load {step.load_averages}"
    )
    return step


def measure_refresh(run: Run, server: ServedAuthserver, directory: Path, chain_count: int) -> Rate:
    """Warm-up on the `warmup` chains, then the measured run on the `refresh` chains; each
    checked in the database afterwards, as bench/run.sh does."""
    config = run.config
    output = _wrk_refresh(run, server, directory / "warmup.tokens", config.warmup_seconds)
    _check_refresh(run, directory / "warmup.families", output, chain_count)
    before = _cpu_snapshot(server, run.database_name)
    output = _wrk_refresh(run, server, directory / "refresh.tokens", config.seconds)
    figures = _wrk_figures(output)
    cpu = _cpu_since(before, server, run.database_name, figures[0])
    _check_refresh(run, directory / "refresh.families", output, chain_count)
    return _rate(figures, *cpu)


def measure_introspection(run: Run, server: ServedAuthserver, access_tokens: Path) -> Rate:
    config = run.config
    target = Target(
        server.base_url + "/introspect",
        "POST",
        authorization=run.introspect_authorization,
        tokens_file=access_tokens,
        carried_in="body",
        expect='"active":true',
    )
    run_wrk(target, config.load, config.warmup_seconds)
    before = _cpu_snapshot(server, run.database_name)
    result = run_wrk(target, config.load, config.seconds)
    figures = (
        result.requests,
        result.requests_per_second,
        result.latency_us["p50"] / 1000,
        result.latency_us["p99"] / 1000,
    )
    return _rate(figures, *_cpu_since(before, server, run.database_name, result.requests))


def _wrk_refresh(run: Run, server: ServedAuthserver, tokens: Path, seconds: int) -> str:
    load = run.config.load
    environment = {
        "BENCH_AUTHORIZATION": run.refresh_authorization,
        "BENCH_TOKENS_FILE": str(tokens),
    }
    url = server.base_url + "/token"
    return wrk_output(REFRESH_LUA, url, load, seconds, environment, (str(load.threads),))


def _check_refresh(run: Run, families: Path, output: str, chain_count: int) -> None:
    """refresh.lua's counters, then what bench/run.sh's check_chains asks the database:
    no family revoked (a replayed token revokes its family), one live token per chain,
    and the rotations stored are those wrk read plus at most the requests in flight."""
    counters = _counters(output)
    for label in REFRESH_MUST_BE_ZERO:
        if counters.get(label, -1) != 0:
            raise MeasurementError(f"refresh run: {label}: {counters.get(label)}\n{output}")
    found = _counters(_quiet(chains, run.database_url, str(families)))
    answered = counters.get("rotations answered", 0)
    stored, connections = found["rotations stored"], run.config.load.connections
    if counters.get("chains started") != chain_count:
        raise MeasurementError(
            f"{counters.get('chains started')} chains started, not {chain_count}"
        )
    if found["families"] != chain_count or found["revoked families"] != 0:
        raise MeasurementError(f"{found['revoked families']} families revoked: a token replayed")
    if found["live tokens"] != chain_count:
        raise MeasurementError(f"{found['live tokens']} live tokens for {chain_count} chains")
    if not 0 <= stored - answered <= connections:
        raise MeasurementError(f"{stored} rotations stored, but wrk read {answered}")


_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$")
_REQUESTS = re.compile(r"^\s+(\d+) requests in ([0-9.]+)(us|ms|s|m)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_figures(output: str) -> tuple[int, float, float, float]:
    """(requests, per second, p50 ms, p99 ms) of wrk's own text output (`--latency`)."""
    requests, per_second, latency = 0, 0.0, {}
    for line in output.splitlines():
        if found := _LATENCY.match(line):
            latency[found.group(1)] = float(found.group(2)) * _UNIT_MS[found.group(3)]
        elif found := _REQUESTS.match(line):
            requests = int(found.group(1))
        elif line.startswith("Requests/sec:"):
            per_second = float(line.split()[1])
    if not requests or set(latency) != {"50", "99"}:
        raise MeasurementError(f"no requests or latency in wrk's output:\n{output[-800:]}")
    return requests, per_second, latency["50"], latency["99"]


def _counters(output: str) -> dict[str, int]:
    """The "label: N" lines (refresh.lua's done(), seed_families.py chains)."""
    found = {}
    for line in output.splitlines():
        label, _, value = line.rpartition(": ")
        if label and value.strip().isdigit():
            found[label.strip()] = int(value)
    return found


CpuSnapshot = tuple[dict[str, tuple[str, int]], tuple[int, int]]


def _cpu_snapshot(server: ServedAuthserver, database: str) -> CpuSnapshot:
    return read_processes(server.pid, database), machine_ticks()


def _cpu_since(
    before: CpuSnapshot, server: ServedAuthserver, database: str, requests: int
) -> tuple[float, float, float]:
    """CPU ms per request of the server and of the database's backends, and the share of
    the machine everything else (wrk included) used meanwhile, in per cent."""
    server_seconds, postgres_seconds = since(before[0], read_processes(server.pid, database))
    busy, total = (now - then for now, then in zip(machine_ticks(), before[1], strict=True))
    per_second = os.sysconf("SC_CLK_TCK")
    others = 100 * (busy / per_second - server_seconds - postgres_seconds) / (total / per_second)
    per_request = 1000 / max(requests, 1)
    return server_seconds * per_request, postgres_seconds * per_request, max(others, 0.0)


def _rate(figures: tuple[int, float, float, float], *cpu: float) -> Rate:
    return Rate(*figures, *(round(value, 2) for value in cpu))


def _prime(base_url: str, authorization: str, group: Path) -> None:
    try:
        prime(base_url, authorization, f"{group}.tokens", f"{group}.access")
    except SystemExit as error:
        raise MeasurementError(f"priming the introspection tokens: {error}") from None


def _plan_values(run: Run, directory: Path, size: int) -> PlanValues:
    access_token = (directory / "introspect.access").read_text().split()[0]
    claims = json.loads(_base64url(access_token.split(".")[1]))
    with psycopg.connect(run.conninfo) as connection:
        row = connection.execute(
            "SELECT jti FROM revoked_access_tokens ORDER BY jti OFFSET %s LIMIT 1", (size // 2,)
        ).fetchone()
    if row is None:
        raise MeasurementError("the deny list is empty")
    return PlanValues(
        refresh_token=(directory / "plan.tokens").read_text().split()[0],
        refresh_client_id=run.principals.refresh_client_id,
        access_jti=claims["jti"],
        access_fid=claims["fid"],
        denied_jti=row[0],
        service_client_id=run.principals.introspect_client_id,
    )


def report(config: Config, steps: list[Step]) -> None:
    print()
    print(
        f"server: authserver serve --workers {config.workers}; {config.load}, "
        f"{config.seconds} s per measurement; PostgreSQL on the same machine"
    )
    print(
        f"{'rows':>10} {'families':>10} {'deny-list':>10} | {'refresh/s':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'CPU ms':>11} | {'introspect/s':>12} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU ms':>11} | {'others':>6}  load average"
    )
    for step in steps:
        refresh, introspection = step.refresh, step.introspection
        print(
            f"{step.size:>10,} {step.rows['token_families'][0]:>10,} "
            f"{step.rows['revoked_access_tokens'][0]:>10,} | {refresh.per_second:>9.0f} "
            f"{refresh.p50_ms:>7.1f} {refresh.p99_ms:>7.1f} {_cpu(refresh):>11} | "
            f"{introspection.per_second:>12.0f} {introspection.p50_ms:>7.1f} "
            f"{introspection.p99_ms:>7.1f} {_cpu(introspection):>11} | "
            f"{max(refresh.others_cpu_percent, introspection.others_cpu_percent):>5.0f}%  "
            f"{step.load_averages}"
        )
    print("CPU ms: per request, server / PostgreSQL backends (bench/cputime.py); others: the")
    print("largest share of the 2 cores that everything else (wrk included) used in either run.")
    print()
    print("Plans (EXPLAIN (ANALYZE, BUFFERS), after the runs, server stopped); table scans:")
    for step in steps:
        for plan in step.plans:
            print(
                f"{step.size:>10,}  {plan.name:<28} execution {plan.execution_ms:.3f} ms, "
                f"buffers {plan.buffers}"
            )
            for scan in plan.scans:
                if scan.startswith("CTE Scan"):
                    continue
                name = scan.split(" on ", 1)[1].split()[0]
                rows = plan.seq_scanned_rows.get(name) if scan in plan.seq_scans else None
                note = f"   <- SEQ SCAN, {rows:,} rows in {name}" if rows is not None else ""
                print(f"{'':>14}{scan}{note}")
    print(f"\nplans and figures: {config.out}")
    for step in steps:
        for line in step.log_problems[:5]:
            print(f"note: {step.size:,} rows: the server logged: {line}")


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def _cpu(rate: Rate) -> str:
    return f"{rate.server_cpu_ms:.2f}/{rate.postgres_cpu_ms:.2f}"


def _rows_text(rows: dict[str, tuple[int, int]]) -> str:
    return ", ".join(f"{table} {n:,} ({size / 1e6:.0f} MB)" for table, (n, size) in rows.items())


def _write_plans(directory: Path, plans: list[Plan]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for plan in plans:
        slug = re.sub(r"[^a-z]+", "-", plan.name.lower()).strip("-")
        (directory / f"{slug}.txt").write_text(f"-- {plan.statement}\n{plan.text}\n")


def _write_json(config: Config, steps: list[Step]) -> None:
    document: list[dict[str, Any]] = []
    for step in steps:
        entry = asdict(step)
        entry["plans"] = [
            {
                "name": p.name,
                "statement": p.statement,
                "execution_ms": p.execution_ms,
                "buffers": p.buffers,
                "scans": p.scans,
                "seq_scanned_rows": p.seq_scanned_rows,
            }
            for p in step.plans
        ]
        document.append(entry)
    (config.out / "growth.json").write_text(json.dumps(document, indent=2) + "\n")


def _drop(admin_url: str, name: str) -> None:
    try:
        dropdb(admin_url, name)
    except Exception as error:  # noqa: BLE001 - said, not raised: the cleanup goes on
        print(f"growth: could not drop database {name}; drop it by hand ({error})", file=sys.stderr)


def _quiet(function: Any, *arguments: str) -> str:
    """What `function` (a seed_families.py command) prints, captured instead."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        function(*arguments)
    return captured.getvalue()


def _base64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
