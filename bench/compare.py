"""authserver beside node-oidc-provider in one run, as ratios (bench/README.md, part `peer`).

    .venv/bin/python bench/compare.py          # or: BENCH_PARTS=peer bash bench/run.sh

Both servers run on loopback for the whole run, with the same RSA-2048 key and the same
client: authserver `serve --workers 2 --no-access-log` on SQLite (or on the empty database
BENCH_OUR_DATABASE_URL names, e.g. PostgreSQL), node-oidc-provider 8.8.1
(bench/peer, `npm ci`) with 2 cluster workers. Each of BENCH_ROUNDS rounds waits for a quiet
machine, runs `openssl speed -multi $(nproc) rsa2048` with both servers idle, fetches fresh
tokens, then measures every endpoint on both servers (warm-up, then BENCH_SECONDS of wrk),
alternately the peer first (odd rounds) and ours first (even rounds). Then the scale curve:
authserver alone with 1, 2, ... workers. The table goes to stdout, every raw figure to
BENCH_OUT (JSON), which bench/plot.py draws. Any error answer or socket error fails the run.
"""

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from compare_measure import (
    Load,
    MeasurementError,
    Target,
    cpu_ticks,
    load_average,
    openssl_speed,
    run_wrk,
    steal_share,
    wait_for_quiet,
)
from compare_peer import install_peer, peer_tools_missing, redis_answers, start_peer
from compare_report import notes, summarize, summarize_scale, table
from compare_servers import (
    OurSetup,
    Server,
    ServerError,
    export_signing_key,
    our_database_kind,
    prepare_ours,
    start_ours,
)
from compare_targets import (
    Bases,
    Targets,
    probe_responses,
    request_labels,
    round_targets,
    token_target,
)
from compare_tokens import TokenError

ROOT = Path(__file__).resolve().parent.parent
WARMUP_SECONDS = 2
FULL_LOAD = Load(threads=2, connections=32)
ONE_CONNECTION = Load(threads=1, connections=1)


@dataclass(frozen=True)
class Config:
    rounds: int
    seconds: int
    quiet_load: float
    quiet_wait_seconds: float
    quiet_steal_percent: float
    openssl_seconds: int
    out: Path
    workers_list: list[int]
    scale_rounds: int
    redis_url: str
    warmup_seconds: int = WARMUP_SECONDS

    @classmethod
    def from_environment(cls) -> "Config":
        workers = [int(word) for word in os.environ.get("BENCH_WORKERS_LIST", "1 2").split()]
        config = cls(
            rounds=int(os.environ.get("BENCH_ROUNDS", "5")),
            seconds=int(os.environ.get("BENCH_SECONDS", "10")),
            quiet_load=float(os.environ.get("BENCH_QUIET_LOAD", "0.6")),
            quiet_wait_seconds=float(os.environ.get("BENCH_QUIET_WAIT", "120")),
            quiet_steal_percent=float(os.environ.get("BENCH_QUIET_STEAL", "5")),
            openssl_seconds=int(os.environ.get("BENCH_OPENSSL_SECONDS", "5")),
            out=Path(os.environ.get("BENCH_OUT", ROOT / "var" / "bench" / "compare.json")),
            workers_list=workers,
            scale_rounds=int(os.environ.get("BENCH_SCALE_ROUNDS", "2")),
            redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        )
        if min(config.rounds, config.seconds, config.openssl_seconds, *workers) < 1:
            raise ValueError(
                "BENCH_ROUNDS, BENCH_SECONDS, BENCH_OPENSSL_SECONDS and every "
                "count of BENCH_WORKERS_LIST must be at least 1"
            )
        if config.scale_rounds < 0:
            raise ValueError("BENCH_SCALE_ROUNDS must be 0 (no scale curve) or more")
        if not 0 <= config.quiet_steal_percent <= 100:
            raise ValueError("BENCH_QUIET_STEAL must be a percentage from 0 to 100")
        return config


@dataclass(frozen=True)
class Endpoint:
    key: str
    title: str
    load: Load


ENDPOINTS = [
    Endpoint("token", "client_credentials token", FULL_LOAD),
    Endpoint("token_1conn", "client_credentials, 1 connection", ONE_CONNECTION),
    Endpoint("jwks", "JWKS", FULL_LOAD),
    Endpoint("introspect", "introspection", FULL_LOAD),
    Endpoint("userinfo", "userinfo", FULL_LOAD),
]


@dataclass
class Bench:
    """Everything a round needs: the settings, the servers and where to put files."""

    config: Config
    setup: OurSetup
    workdir: Path
    ours: Server
    peer: Server
    peer_has_redis: bool

    def targets(self, directory: Path) -> Targets:
        bases = Bases(self.ours.base_url, self.peer.base_url, self.peer_has_redis)
        return round_targets(bases, self.setup, directory)

    def not_measured(self) -> dict[str, dict[str, str]]:
        """Short reasons for the table; the notes say more."""
        if self.peer_has_redis:
            return {}
        reason = {"peer": "no Redis, and its in-memory store is per worker"}
        return {"introspect": reason, "userinfo": reason}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def main() -> int:
    try:
        config = Config.from_environment()
    except ValueError as error:
        print(f"compare: bad setting: {error}", file=sys.stderr)
        return 2
    missing = peer_tools_missing()
    if missing:
        print(f"compare: skipped, the peer needs node and npm ({missing})", flush=True)
        return 0
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            print(f"compare: {tool} is missing: apt-get install -y {tool}", file=sys.stderr)
            return 1
    # SIGTERM unwinds like Ctrl-C, so the servers and the temp dir go in both cases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = run(config)
    except (MeasurementError, ServerError, TokenError, httpx.HTTPError) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("compare: interrupted", file=sys.stderr)
        return 130
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nraw figures: {config.out}")
    return 0


def run(config: Config) -> dict[str, Any]:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="authserver-compare."))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        say("installing the peer: npm ci in bench/peer")
        oidc_provider = install_peer(workdir / "npm.log")
        bench = start_servers(config, workdir, stack)
        machine = describe_machine(oidc_provider)
        say(f"authserver at {bench.ours.base_url}, node-oidc-provider at {bench.peer.base_url}")
        try:
            targets = bench.targets(workdir / "probe")
            responses = probe_responses(targets)
            rounds = [run_round(bench, number) for number in range(1, config.rounds + 1)]
            logs = {"ours": bench.ours.log_problems(), "peer": bench.peer.log_problems()}
            bench.ours.stop()
            bench.peer.stop()
            scale = measure_scale(bench)
        except (MeasurementError, TokenError, httpx.HTTPError):
            print_log_tails(workdir)  # before the temp dir goes
            raise
        logs["ours_scale"] = scale.pop("log_problems")
        machine["authserver_at_end"] = authserver_version()
        requests = request_labels(targets)
        return assemble(bench, machine, requests, responses, rounds, scale, logs)


def print_log_tails(workdir: Path, lines: int = 20) -> None:
    for log in sorted(workdir.glob("*.log")):
        if log.name != "npm.log":
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            print(f"--- {log.name} (last {lines} lines) ---", *tail, sep="\n", file=sys.stderr)


def start_servers(config: Config, workdir: Path, stack: ExitStack) -> Bench:
    say(f"authserver: database, clients and user in {workdir}")
    setup = prepare_ours(workdir)
    ours = start_ours(setup, workdir, workers=2)
    stack.callback(ours.stop)
    public_jwk = export_signing_key(workdir / "keys", workdir / "peer-key.json")
    has_redis = redis_answers(config.redis_url)
    prefix = f"authserver-compare-{os.getpid()}-{int(time.time())}:"
    redis_url = config.redis_url if has_redis else ""
    peer = start_peer(setup, workdir / "peer-key.json", workdir, redis_url, prefix)
    stack.callback(peer.stop)
    check_same_key(ours, peer, public_jwk)
    return Bench(config, setup, workdir, ours, peer, has_redis)


def check_same_key(ours: Server, peer: Server, public_jwk: dict[str, str]) -> None:
    """Both JWKS publish the exported key: the same RSA-2048 modulus signs on both sides."""
    for server, path in ((ours, "/.well-known/jwks.json"), (peer, "/jwks")):
        keys = httpx.get(server.base_url + path, timeout=5.0).json()["keys"]
        if not any(key.get("n") == public_jwk["n"] for key in keys):
            raise ServerError(
                f"{server.name} does not publish the exported key {public_jwk['kid']}"
            )


def run_round(bench: Bench, number: int) -> dict[str, Any]:
    config = bench.config
    say(
        f"round {number}/{config.rounds}: waiting for a 1-minute load average below "
        f"{config.quiet_load} (at most {config.quiet_wait_seconds:.0f} s)"
    )
    quiet = wait_for_quiet(config.quiet_load, config.quiet_wait_seconds)
    say(f"round {number}: load {quiet.load_average:.2f}" + (" (noisy)" if quiet.noisy else ""))
    ticks_at_start = cpu_ticks()
    speed = openssl_speed(config.openssl_seconds, os.cpu_count() or 1)
    say(f"round {number}: openssl {speed.sign_per_second:.0f} sign/s")
    targets = bench.targets(bench.workdir / f"round-{number}")
    order = ["peer", "ours"] if number % 2 == 1 else ["ours", "peer"]
    measurements: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        measurements[endpoint.key] = {}
        for server in order:
            target = targets[endpoint.key].get(server)
            if target is not None:
                figures = measure(target, endpoint.load, config)
                measurements[endpoint.key][server] = figures
                say(
                    f"round {number}: {endpoint.key:<11} {server:<4} "
                    f"{figures['requests_per_second']:8.0f} req/s  p50 {figures['p50_ms']:.2f} ms"
                    f"  p99 {figures['p99_ms']:.2f} ms"
                    f"  steal {100 * figures['steal_share']:.1f} %"
                )
    # From after the quiet wait to here: openssl speed and every measurement of the round.
    stolen = round(steal_share(ticks_at_start, cpu_ticks()), 4)
    steal_noisy = 100 * stolen > config.quiet_steal_percent
    if steal_noisy:
        say(
            f"round {number}: the host stole {100 * stolen:.1f} % of the CPU time "
            f"(above BENCH_QUIET_STEAL={config.quiet_steal_percent:g} %)"
        )
    return {
        "round": number,
        "order": order,
        "quiet": asdict(quiet),
        "openssl": asdict(speed),
        "measurements": measurements,
        "load_average_end": load_average(),
        "steal_share": stolen,
        "steal_noisy": steal_noisy,
    }


def measure(target: Target, load: Load, config: Config) -> dict[str, Any]:
    """Warm-up, then the measured run; its figures and the CPU share the host stole in it."""
    run_wrk(target, load, config.warmup_seconds)
    start = cpu_ticks()
    figures = run_wrk(target, load, config.seconds).as_json()
    return figures | {"steal_share": round(steal_share(start, cpu_ticks()), 4)}


def measure_scale(bench: Bench) -> dict[str, Any]:
    """authserver alone, client_credentials tokens/s for each worker count, in passes that
    alternate the order (ascending, then descending)."""
    config, runs, problems = bench.config, [], []
    for number in range(1, config.scale_rounds + 1):
        quiet = wait_for_quiet(config.quiet_load, config.quiet_wait_seconds)
        ordered = config.workers_list if number % 2 == 1 else config.workers_list[::-1]
        for workers in ordered:
            server = start_ours(bench.setup, bench.workdir, workers)
            try:
                target = token_target(server.base_url, bench.setup.bench)
                figures = measure(target, FULL_LOAD, config)
                problems += server.log_problems()
            finally:
                server.stop()
            say(
                f"scale pass {number}: --workers {workers}: "
                f"{figures['requests_per_second']:.0f} tokens/s"
            )
            runs.append(
                {"pass": number, "workers": workers, "quiet": asdict(quiet), "result": figures}
            )
    return {
        "load": str(FULL_LOAD),
        "passes": config.scale_rounds,
        "workers_list": config.workers_list,
        "runs": runs,
        "summary": summarize_scale(runs),
        "log_problems": problems,
    }


def output(*command: str) -> str:
    finished = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    return finished.stdout.strip()


def authserver_version() -> str:
    """The commit, and a digest of authserver/'s uncommitted changes if it has any: the code
    the servers run (read again at the end, since authserver/ may change during a run)."""
    commit = output("git", "rev-parse", "--short", "HEAD") or "unknown"
    changes = output("git", "diff", "HEAD", "--", "authserver")
    untracked = output("git", "ls-files", "--others", "--exclude-standard", "--", "authserver")
    for name in untracked.split():
        changes += name + (ROOT / name).read_text(errors="replace")
    if not changes:
        return commit
    digest = hashlib.sha256(changes.encode()).hexdigest()[:12]
    return f"{commit} + uncommitted changes in authserver/ (digest {digest})"


def describe_machine(oidc_provider: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "authserver": authserver_version(),
        "oidc_provider": oidc_provider,
        "node": output("node", "--version").removeprefix("v"),
        "openssl": output("openssl", "version"),
        "python": platform.python_version(),
    }


def assemble(
    bench: Bench,
    machine: dict[str, Any],
    requests: dict[str, dict[str, str]],
    responses: dict[str, Any],
    rounds: list[dict[str, Any]],
    scale: dict[str, Any],
    logs: dict[str, list[str]],
) -> dict[str, Any]:
    not_measured = bench.not_measured()
    endpoints = [
        {
            "key": e.key,
            "title": e.title,
            "load": str(e.load),
            "requests": requests[e.key],
            "not_measured": not_measured.get(e.key, {}),
        }
        for e in ENDPOINTS
    ]
    result = {
        "version": 1,
        "machine": machine,
        "config": asdict(bench.config) | {"out": str(bench.config.out)},
        "peer_store": "redis" if bench.peer_has_redis else "memory",
        "our_database": our_database_kind(),
        "endpoints": endpoints,
        "responses": responses,
        "rounds": rounds,
        "scale": scale,
        "server_log_problems": logs,
    }
    result["summary"] = summarize(endpoints, rounds)
    result["notes"] = notes(result)
    return result


if __name__ == "__main__":
    sys.exit(main())
