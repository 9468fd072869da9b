"""Running the real `authserver` command and server processes for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

AUTHSERVER = str(Path(sys.executable).with_name("authserver"))


def cli_environment(database_url: str, keys_dir: Path, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    environment.update(
        AUTHSERVER_MODE="development",
        AUTHSERVER_DATABASE_URL=database_url,
        AUTHSERVER_KEYS_DIR=str(keys_dir),
    )
    environment.update(extra)
    return environment


def run_cli(
    environment: dict[str, str], *arguments: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTHSERVER, *arguments],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=environment.get("HOME_FOR_TESTS"),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(
    environment: dict[str, str],
    *arguments: str,
    port: int | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """`authserver serve` on a free loopback port (or `port`); yields its base URL.

    Its log (stderr) goes to a file, `log` or a temporary one: a pipe nobody reads would
    fill up and stall the server once it has logged 64 KiB (audit lines, say)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {"AUTHSERVER_ISSUER": base_url, **environment}
    with ExitStack() as cleanup:
        if log is None:
            log = Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "server.log"
        stderr = cleanup.enter_context(log.open("wb"))
        process = subprocess.Popen(
            [AUTHSERVER, "serve", "--port", str(port), "--no-access-log", *arguments],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            _wait_until_ready(base_url, process, log)
            yield base_url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready within 30 s")
