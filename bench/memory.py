"""Worker memory of `authserver serve` over a million tokens: no leak (issue 11, bench/README.md).

    .venv/bin/python bench/memory.py                    # 1,000,000 tokens: 10-25 min here
    .venv/bin/python bench/memory.py --tokens 100000    # a shorter check: 1-3 min

Starts `authserver serve --workers 2 --no-access-log` on a SQLite database in a temporary
directory (development mode, AUTHSERVER_CLIENT_RATE_LIMIT=0, as bench/compare.py), and
issues client_credentials tokens with `wrk -t2 -c16` (bench/lua/compare.lua: any answer
other than 200 with an access_token fails the run) until `--baseline` tokens were issued,
then on to each checkpoint and to `--tokens`. Each wrk run lasts what the last measured
rate needs for 80 % of the tokens still missing to the next mark (1 to `--max-run`
seconds), and the tokens are the responses wrk read. At each mark, after `--settle`
seconds (the audit buffer writes its rows once a second), it reads each worker's VmRSS
(/proc/<pid>/status); the workers are the children uvicorn spawned and must stay the
same processes throughout. It prints the curve, then
per worker RSS after the baseline and after all tokens, the growth, and PASS when every
worker grew by at most `--bound` per cent (issue 11: 10 %), FAIL otherwise (exit 1).

Every token writes one `token.issued` audit row (in batches, bench/README.md), so the
database grows: its size is printed at each checkpoint, and after the server stopped,
the audit rows it holds. Everything goes with the temporary directory at exit, Ctrl-C
included.
"""

import argparse
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from compare_measure import Load, MeasurementError, Target, run_wrk
from compare_servers import BENCH_AUDIENCE, BENCH_SCOPE, ServerError, prepare_ours
from compare_targets import token_target
from compare_tokens import TokenError, client_credentials_tokens
from serving import ServedAuthserver, load_averages, resident_kib, serve

KIB_PER_MIB = 1024
FIRST_RUN_SECONDS = 1
# The share of the remaining tokens a wrk run aims at, so that a faster rate than the
# last one does not carry it far past a mark.
APPROACH = 0.8


@dataclass(frozen=True)
class Config:
    tokens: int
    baseline: int
    checkpoints: list[int]
    bound_percent: float
    workers: int
    load: Load
    max_run_seconds: int
    settle_seconds: float
    json_path: Path | None

    @property
    def marks(self) -> list[int]:
        """Where RSS is read: the baseline, the checkpoints between, the end."""
        between = [n for n in self.checkpoints if self.baseline < n < self.tokens]
        return sorted({self.baseline, *between, self.tokens})


@dataclass(frozen=True)
class Reading:
    """The server's state after `tokens` tokens."""

    tokens: int
    elapsed_seconds: float
    worker_kib: dict[int, int]
    supervisor_kib: int
    database_bytes: int
    load_averages: str


@dataclass
class Drive:
    """The token run so far: tokens read, the last wrk rate, the readings."""

    server: ServedAuthserver
    target: Target
    config: Config
    database: Path
    workers: list[int]
    started: float
    issued: int = 0
    rate: float = 0.0

    def until(self, goal: int) -> None:
        """wrk runs until `goal` tokens were issued, each sized from the last rate to end
        a little short of it (the rate moves with other work on the machine), the last
        one second long: a mark is passed by at most about a second of tokens."""
        while self.issued < goal:
            remaining = goal - self.issued
            seconds = FIRST_RUN_SECONDS
            if self.rate > 0:
                planned = int(APPROACH * remaining / self.rate)
                seconds = max(1, min(self.config.max_run_seconds, planned))
            result = run_wrk(self.target, self.config.load, seconds)
            self.issued += result.requests
            self.rate = result.requests_per_second
            reading = self.read(settle=False)
            print(
                f"    wrk {seconds:>3} s: {result.requests:>8,} tokens at {self.rate:6.0f}/s, "
                f"p99 {result.latency_us['p99'] / 1000:6.1f} ms; total {self.issued:>9,}; "
                f"RSS {_workers_mib(reading)}; load {reading.load_averages}",
                flush=True,
            )

    def read(self, settle: bool = True) -> Reading:
        if settle:
            time.sleep(self.config.settle_seconds)
        workers = self.server.worker_pids()
        if workers != self.workers:
            raise MeasurementError(
                f"the workers changed from {self.workers} to {workers} (one restarted?): "
                f"its memory would start over\n{self.server.log_tail()}"
            )
        return Reading(
            tokens=self.issued,
            elapsed_seconds=round(time.monotonic() - self.started, 1),
            worker_kib={pid: resident_kib(pid) for pid in workers},
            supervisor_kib=resident_kib(self.server.pid),
            database_bytes=_database_bytes(self.database),
            load_averages=load_averages(),
        )


def parse_arguments(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="tokens in all")
    parser.add_argument("--baseline", type=int, default=10_000, help="RSS compared with here")
    parser.add_argument(
        "--checkpoints",
        default="100000,300000",
        help="comma-separated token counts where RSS is read too (those below --tokens)",
    )
    parser.add_argument("--bound", type=float, default=10.0, help="allowed growth, per cent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--max-run", type=int, default=60, help="longest wrk run, seconds")
    parser.add_argument("--settle", type=float, default=3.0, help="pause before a reading, s")
    parser.add_argument("--json", type=Path, default=None, help="write every reading here")
    arguments = parser.parse_args(argv)
    checkpoints = [int(word) for word in arguments.checkpoints.split(",") if word.strip()]
    if not 0 < arguments.baseline < arguments.tokens:
        parser.error("--baseline must be above 0 and below --tokens")
    if min(arguments.workers, arguments.threads, arguments.max_run) < 1:
        parser.error("--workers, --threads and --max-run must be at least 1")
    if arguments.connections < arguments.threads:
        parser.error("--connections must be at least --threads")
    return Config(
        tokens=arguments.tokens,
        baseline=arguments.baseline,
        checkpoints=checkpoints,
        bound_percent=arguments.bound,
        workers=arguments.workers,
        load=Load(arguments.threads, arguments.connections),
        max_run_seconds=arguments.max_run,
        settle_seconds=arguments.settle,
        json_path=arguments.json,
    )


def main(argv: list[str]) -> int:
    config = parse_arguments(argv)
    # SIGTERM unwinds like Ctrl-C: the server and the temporary directory go in both cases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(config)
    except (MeasurementError, ServerError, TokenError, httpx.HTTPError) as error:
        print(f"memory: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("memory: interrupted", file=sys.stderr)
        return 130


def run(config: Config) -> int:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="authserver-memory."))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        say(f"SQLite database and clients in {workdir}")
        setup = prepare_ours(workdir)
        say(f"starting authserver serve --workers {config.workers} --no-access-log")
        server = serve(setup.environment, workdir, config.workers)
        stack.callback(server.stop)
        load_before = load_averages()
        workers = server.worker_pids()
        if len(workers) != config.workers:
            raise ServerError(f"{len(workers)} worker processes, not {config.workers}")
        target = token_target(server.base_url, setup.bench)
        # One token by hand first: the endpoint works before wrk measures anything.
        client_credentials_tokens(target.url, setup.bench, BENCH_SCOPE, BENCH_AUDIENCE, 1)
        database = workdir / "authserver.db"
        drive = Drive(server, target, config, database, workers, time.monotonic(), issued=1)
        readings = [drive.read()]
        say(f"workers {workers}; {config.load} POST /token until {config.tokens:,} tokens")
        for mark in config.marks:
            drive.until(mark)
            readings.append(drive.read())
            say(f"after {drive.issued:,} tokens: RSS {_workers_mib(readings[-1])}")
        log_bytes = server.log_path.stat().st_size
        problems = server.log_problems()
        server.stop()
        audit_rows = _audit_rows(database)
        final_database_bytes = _database_bytes(database)
        passed = report(config, readings, load_before, audit_rows, final_database_bytes)
        print(f"server log: {log_bytes / 1e6:.1f} MB, {len(problems)} error lines")
        for line in problems[:5]:
            print(f"    {line}")
        if config.json_path is not None:
            config.json_path.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "readings": [asdict(reading) for reading in readings],
                "audit_rows": audit_rows,
                "database_bytes_after_stop": final_database_bytes,
                "passed": passed,
            }
            config.json_path.write_text(json.dumps(document, indent=2) + "\n")
        return 0 if passed and not problems else 1


def report(
    config: Config,
    readings: list[Reading],
    load_before: str,
    audit_rows: dict[str, int],
    database_bytes: int,
) -> bool:
    """Prints the curve and the verdict; True when every worker is within the bound."""
    pids = list(readings[0].worker_kib)
    print()
    print(f"load average before: {load_before}   after: {load_averages()}")
    header = f"{'tokens':>10} {'elapsed':>8}"
    header += "".join(f" {'worker ' + str(pid):>14}" for pid in pids)
    print(header + f" {'supervisor':>11} {'database':>10}  load average")
    for reading in readings:
        line = f"{reading.tokens:>10,} {reading.elapsed_seconds:>7.0f}s"
        line += "".join(f" {_mib(reading.worker_kib[pid]):>10.1f} MiB" for pid in pids)
        line += f" {_mib(reading.supervisor_kib):>7.1f} MiB"
        line += f" {reading.database_bytes / 1e6:>7.1f} MB  {reading.load_averages}"
        print(line)
    baseline = next(r for r in readings if r.tokens >= config.baseline)
    final = readings[-1]
    print()
    print(f"{'worker':>8} {'RSS after ' + format(baseline.tokens, ','):>22}", end="")
    print(f" {'RSS after ' + format(final.tokens, ','):>22} {'growth':>8}")
    passed = True
    for pid in pids:
        before, after = baseline.worker_kib[pid], final.worker_kib[pid]
        growth = 100 * (after - before) / before
        passed = passed and growth <= config.bound_percent
        print(f"{pid:>8} {_mib(before):>18.1f} MiB {_mib(after):>18.1f} MiB {growth:>+7.1f} %")
    verdict = "PASS" if passed else "FAIL"
    print(
        f"{verdict}: each worker's RSS after {final.tokens:,} tokens within "
        f"{config.bound_percent:g} % of its RSS after {baseline.tokens:,}"
    )
    stored = sum(audit_rows.values())
    print(
        f"database after the stop: {database_bytes / 1e6:.1f} MB, {stored:,} audit rows "
        f"({', '.join(f'{event}: {n:,}' for event, n in sorted(audit_rows.items()))}); "
        f"{database_bytes / max(final.tokens, 1):.0f} bytes per token"
    )
    return passed


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def _audit_rows(database: Path) -> dict[str, int]:
    """The audit rows per event, read once the server stopped (it writes its queue out)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT event, count(*) FROM audit_events GROUP BY event")
        return {event: count for event, count in rows}


def _database_bytes(database: Path) -> int:
    """The SQLite file with its write-ahead log and shared-memory index."""
    files = [database, database.with_name(database.name + "-wal")]
    files.append(database.with_name(database.name + "-shm"))
    return sum(path.stat().st_size for path in files if path.exists())


def _mib(kib: int) -> float:
    return kib / KIB_PER_MIB


def _workers_mib(reading: Reading) -> str:
    return ", ".join(f"{_mib(kib):.1f}" for kib in reading.worker_kib.values()) + " MiB"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
