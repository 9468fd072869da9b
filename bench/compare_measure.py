"""The measuring instruments of bench/compare.py: wrk runs, `openssl speed`, a quiet machine,
the CPU time the host stole.

A wrk run goes through `bench/lua/compare.lua`, which counts non-2xx responses and 2xx
bodies without the expected text; `run_wrk` fails unless those counts and wrk's socket
errors are all 0, so errors are never reported as throughput.
"""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "compare.lua"
RESULT_PREFIX = "compare.lua "
WRK_TIMEOUT = "10s"
PROC_STAT = Path("/proc/stat")


class MeasurementError(Exception):
    """A run that cannot be counted: an error answer, a socket error, a tool that failed."""


@dataclass(frozen=True)
class Target:
    """What wrk sends: one endpoint of one server (see bench/lua/compare.lua)."""

    url: str
    method: str = "GET"
    body: str = ""
    authorization: str = ""
    tokens_file: Path | None = None
    carried_in: str = ""
    expect: str = ""

    def environment(self) -> dict[str, str]:
        return {
            "BENCH_METHOD": self.method,
            "BENCH_BODY": self.body,
            "BENCH_AUTHORIZATION": self.authorization,
            "BENCH_TOKENS_FILE": str(self.tokens_file or ""),
            "BENCH_TOKEN_IN": self.carried_in,
            "BENCH_EXPECT": self.expect,
        }


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int

    def __str__(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections}"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    non_2xx: int
    unexpected_bodies: int
    socket_errors: dict[str, int]
    latency_us: dict[str, float]
    first_bad: str = ""

    @property
    def requests_per_second(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def failures(self) -> int:
        return self.non_2xx + self.unexpected_bodies + sum(self.socket_errors.values())

    def as_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "duration_us": self.duration_us,
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": self.latency_us["p50"] / 1000,
            "p90_ms": self.latency_us["p90"] / 1000,
            "p99_ms": self.latency_us["p99"] / 1000,
            "mean_ms": round(self.latency_us["mean"] / 1000, 3),
            "max_ms": self.latency_us["max"] / 1000,
            "non_2xx": self.non_2xx,
            "unexpected_bodies": self.unexpected_bodies,
            "socket_errors": self.socket_errors,
        }


def wrk_output(
    script: Path,
    url: str,
    load: Load,
    seconds: int,
    environment: dict[str, str],
    script_arguments: tuple[str, ...] = (),
) -> str:
    """What one wrk run with `script` printed; raises MeasurementError if wrk failed."""
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if script_arguments:
        command += ["--", *script_arguments]
    finished = run_command(command, {**os.environ, **environment}, timeout_seconds=seconds + 60)
    if finished.returncode != 0:
        raise MeasurementError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}")
    return finished.stdout


def run_wrk(target: Target, load: Load, seconds: int) -> WrkResult:
    """One wrk run; raises MeasurementError unless every response was a good 2xx."""
    output = wrk_output(LUA_SCRIPT, target.url, load, seconds, target.environment())
    result = parse_wrk_output(output)
    if result.failures:
        raise MeasurementError(
            f"{target.method} {target.url}: {result.non_2xx} non-2xx responses, "
            f"{result.unexpected_bodies} bodies without {target.expect!r}, socket errors "
            f"{result.socket_errors}; first bad response: {result.first_bad or '-'}"
        )
    if result.requests == 0:
        raise MeasurementError(f"{target.method} {target.url}: wrk completed no request")
    return result


def run_command(
    command: list[str], environment: dict[str, str], timeout_seconds: float
) -> subprocess.CompletedProcess[str]:
    """Run a tool in its own process group, which goes whole if we are interrupted (Ctrl-C,
    SIGTERM, a timeout): `openssl speed -multi` leaves children that outlive a killed parent."""
    with subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_seconds)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def parse_wrk_output(output: str) -> WrkResult:
    lines = output.splitlines()
    found = [line.removeprefix(RESULT_PREFIX) for line in lines if line.startswith(RESULT_PREFIX)]
    if not found:
        raise MeasurementError(f"no '{RESULT_PREFIX}' line in wrk's output: {output[-500:]}")
    numbers = json.loads(found[-1])
    first_bad = next((line.split(": ", 1)[1] for line in lines if line.startswith("first bad")), "")
    return WrkResult(first_bad=first_bad, **numbers)


@dataclass(frozen=True)
class RsaSpeed:
    processes: int
    sign_per_second: float
    verify_per_second: float


def openssl_speed(seconds: int, processes: int) -> RsaSpeed:
    """`openssl speed -multi N -seconds S rsa2048`: sign/s and verify/s of all processes."""
    command = ["openssl", "speed", "-seconds", str(seconds), "-multi", str(processes), "rsa2048"]
    finished = run_command(command, dict(os.environ), timeout_seconds=4 * seconds + 60)
    output = finished.stdout + finished.stderr
    if finished.returncode != 0:
        raise MeasurementError(f"openssl speed failed: {output[-500:]}")
    return RsaSpeed(processes, *rsa2048_rates(output))


def rsa2048_rates(output: str) -> tuple[float, float]:
    """The sign/s and verify/s columns, found by their headers (OpenSSL 3.4+ adds columns)."""
    columns: list[str] = []
    for line in output.splitlines():
        words = line.split()
        if "sign/s" in words and words[0] != "rsa":
            columns = words
        elif line.startswith("rsa") and words[:3] == ["rsa", "2048", "bits"] and columns:
            values = words[3:]
            return float(values[columns.index("sign/s")]), float(values[columns.index("verify/s")])
    raise MeasurementError(f"no 'rsa 2048 bits' line in openssl speed's output: {output[-500:]}")


@dataclass(frozen=True)
class Quiet:
    """How a round started: the 1-minute load average, and how long it took to get there."""

    load_average: float
    waited_seconds: float
    noisy: bool
    threshold: float
    history: list[float] = field(default_factory=list)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(threshold: float, max_wait_seconds: float, poll_seconds: float = 5.0) -> Quiet:
    """Wait until the 1-minute load average is below `threshold`, at most `max_wait_seconds`."""
    started = time.monotonic()
    history = [load_average()]
    while history[-1] >= threshold:
        waited = time.monotonic() - started
        if waited >= max_wait_seconds:
            return Quiet(history[-1], round(waited, 1), True, threshold, history)
        time.sleep(min(poll_seconds, max_wait_seconds - waited))
        history.append(load_average())
    return Quiet(history[-1], round(time.monotonic() - started, 1), False, threshold, history)


class CpuTicks(NamedTuple):
    """All cores' CPU ticks since boot: those the host stole, those idle (idle and
    iowait), and all of them."""

    steal: int
    idle: int
    total: int


def parse_cpu_ticks(stat: str) -> CpuTicks:
    """The `cpu` line (the first) of /proc/stat's text: user nice system idle iowait irq
    softirq steal guest guest_nice. Steal is the 8th number (0 on kernels without it); the
    total is the sum of the first eight, as the guest fields are counted in user and nice
    already."""
    numbers = [int(word) for word in stat.splitlines()[0].split()[1:9]]
    steal = numbers[7] if len(numbers) > 7 else 0
    return CpuTicks(steal, sum(numbers[3:5]), sum(numbers))


def cpu_ticks(path: Path = PROC_STAT) -> CpuTicks | None:
    """The ticks now; None without /proc/stat (not Linux)."""
    try:
        return parse_cpu_ticks(path.read_text())
    except OSError:
        return None


def steal_share(start: CpuTicks | None, end: CpuTicks | None) -> float:
    """The share (0 to 1) of the CPU time between two readings that the host stole: steal
    does not show in the load average. 0.0 when either reading is missing."""
    if start is None or end is None or end.total <= start.total:
        return 0.0
    return max(end.steal - start.steal, 0) / (end.total - start.total)
