"""`authserver serve` and `authserver` commands for the drills, on 127.0.0.1 only.

A server runs in a session (process group) of its own, so that stopping it ends its
workers too and a Ctrl-C at the terminal reaches only the runner, which then stops it.
Its output goes to a log file the drills read: uvicorn logs one "Application startup
complete." per worker that starts serving, which is how a drill knows that the
replacement of a killed worker is up. With DRILLS_LOG_DIR set, each server's log is
copied there when it stops (the drills' own directories are removed).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

AUTHSERVER = str(Path(sys.executable).with_name("authserver"))
STARTED = "Application startup complete."
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def drill_environment(database_url: str, keys_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any AUTHSERVER_* of the caller, plus the drill's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    environment |= {
        "AUTHSERVER_MODE": "development",
        "AUTHSERVER_DATABASE_URL": database_url,
        "AUTHSERVER_KEYS_DIR": str(keys_dir),
        "AUTHSERVER_LOG_FORMAT": "text",
    }
    return environment | extra


def run_cli(
    environment: dict[str, str], *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTHSERVER, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Server:
    """`authserver serve --workers N` on a free loopback port, until `stop()`."""

    def __init__(self, environment: dict[str, str], log_path: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = log_path
        self._scanned, self._carry, self._startups = 0, b"", 0
        environment = {"AUTHSERVER_ISSUER": self.base_url, **environment}
        command = [AUTHSERVER, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(workers), "--no-access-log"]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def __enter__(self) -> "Server":
        try:
            self.wait_until_serving(self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_until_serving(self, startups: int, timeout: float = START_TIMEOUT_SECONDS) -> float:
        """Wait until `startups` workers in all have started and /readyz answers 200;
        the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_tail()}")
            if self.startups() >= startups and self._ready():
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"the server was not serving within {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def startups(self) -> int:
        """How many workers have started serving since the server started. The log grows
        by an audit line per token: only what was added since the last call is read."""
        with self.log_path.open("rb") as log:
            log.seek(self._scanned)
            added = log.read()
        self._scanned += len(added)
        # Whole lines only: a line cut in two by this read is counted when complete.
        text = self._carry + added
        cut = text.rfind(b"\n") + 1
        self._startups += text[:cut].count(STARTED.encode())
        self._carry = text[cut:]
        return self._startups

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor, not its resource
        tracker); empty with one worker, which is the supervisor itself."""
        return [
            pid
            for pid in _children(self.process.pid)
            if b"spawn_main" in _read(Path(f"/proc/{pid}/cmdline"))
        ]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after STOP_TIMEOUT_SECONDS."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_SECONDS)
        _signal_group(self.process.pid, signal.SIGKILL)  # workers may outlive the parent
        self.process.wait()
        if kept := os.environ.get("DRILLS_LOG_DIR"):
            Path(kept).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log_path, Path(kept) / f"{self.log_path.stem}-{self.port}.log")


def _signal_group(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, number)


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat")
        # The command name, in parentheses, may hold spaces: the fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent and fields[0] != b"Z":
            children.append(int(entry.name))
    return children


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
