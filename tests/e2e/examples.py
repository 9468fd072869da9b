"""The resource services of `examples/` as real processes on loopback: FastAPI under uvicorn,
Express under node, each with ISSUER and AUDIENCE in its environment, always stopped."""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from tests.e2e.processes import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPRESS = EXAMPLES / "express"
NPM_TIMEOUT_S = 300
READY_TIMEOUT_S = 30
BIND_ATTEMPTS = 3


def express_dependencies_problem() -> str | None:
    """None once `examples/express/node_modules` matches its lock file; else why it cannot.

    Installs with `npm ci` when node_modules is missing or older than package-lock.json,
    under a lock, so two test runs never install into the same directory at once.
    """
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        return "the Express example needs node and npm, and they are not on PATH"
    lock_file = Path(tempfile.gettempdir()) / "authserver-examples-express-npm.lock"
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(EXPRESS):
            return None
        return _npm_ci(npm, EXPRESS)


def _installed(directory: Path) -> bool:
    marker = directory / "node_modules" / ".package-lock.json"
    lock = directory / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def _npm_ci(npm: str, directory: Path) -> str | None:
    arguments = [npm, "ci", "--no-audit", "--no-fund"]
    try:
        result = subprocess.run(
            arguments, cwd=directory, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return f"npm ci in examples/express did not finish within {NPM_TIMEOUT_S} s"
    if result.returncode != 0:
        first_lines = " | ".join(result.stderr.strip().splitlines()[:3])
        return f"npm ci in examples/express failed ({result.returncode}): {first_lines}"
    return None


def service_environment(issuer: str, audience: str, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    environment.update(ISSUER=issuer, AUDIENCE=audience, **extra)
    return environment


Command = Callable[[int], tuple[list[str], dict[str, str]]]


@contextmanager
def running_fastapi_example(
    name: str, issuer: str, audience: str, probe_path: str, log_dir: Path, **extra: str
) -> Iterator[str]:
    """`uvicorn app:app` of `examples/<name>` on a free loopback port; yields its base URL."""

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        arguments = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(EXAMPLES / name)]
        arguments += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        return arguments, service_environment(issuer, audience, **extra)

    with running_on_a_free_port(command, EXAMPLES / name, probe_path, log_dir / name) as base_url:
        yield base_url


@contextmanager
def running_express_example(
    issuer: str, audience: str, probe_path: str, log_dir: Path
) -> Iterator[str]:
    """`node server.js` of `examples/express` on a free loopback port; yields its base URL."""
    node = shutil.which("node") or "node"

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        return [node, "server.js"], service_environment(issuer, audience, PORT=str(port))

    with running_on_a_free_port(command, EXPRESS, probe_path, log_dir / "express") as base_url:
        yield base_url


@contextmanager
def running_on_a_free_port(
    command: Command, cwd: Path, probe_path: str, log: Path
) -> Iterator[str]:
    """The process `command(port)` gives, once `probe_path` answers any HTTP status; yields
    its base URL. Another port is tried when the one picked was taken in the meantime."""
    process, base_url = _start_on_a_free_port(command, cwd, probe_path, log)
    try:
        yield base_url
    finally:
        _stop(process)


class AddressInUse(RuntimeError):
    """The port was free when picked, and taken when the process bound it."""


def _start_on_a_free_port(
    command: Command, cwd: Path, probe_path: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    for _ in range(BIND_ATTEMPTS - 1):
        with suppress(AddressInUse):
            return _start(command, cwd, probe_path, log)
    return _start(command, cwd, probe_path, log)


def _start(
    command: Command, cwd: Path, probe_path: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    arguments, environment = command(port)
    with log.open("wb") as output:
        process = subprocess.Popen(
            arguments,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(base_url + probe_path, process, log)
    except BaseException:
        _stop(process)
        raise
    return process, base_url


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            if "address already in use" in output.lower() or "EADDRINUSE" in output:
                raise AddressInUse(url)
            raise RuntimeError(f"{process.args} exited ({process.returncode}): {output[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    output = log.read_text(errors="replace")
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S} s: {output[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its whole process group, SIGKILL after 10 s; it may have exited already."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
