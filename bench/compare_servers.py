"""Server processes for bench/compare.py, and authserver's: its setup, `serve`, its key.

authserver makes its RSA-2048 key in its key directory on the first `serve`;
`export_signing_key` hands the `current` one to the peer (bench/compare_peer.py) as a
private JWK, so both sign with the same key. Each server runs in its own session (process
group), so `stop` ends it with all its workers.
"""

import base64
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote_plus

import httpx

from authserver.keys.records import KeyState
from authserver.keys.store import FileKeyStore

BENCH_SCOPE = "api:read"
BENCH_AUDIENCE = "urn:bench:api"
REDIRECT_URI = "https://app.example.test/callback"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# What authserver should never log during a run.
OUR_LOG_PROBLEM = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")


class ServerError(Exception):
    """A server that would not start or prepare: nothing to measure."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    @property
    def authorization(self) -> str:
        """RFC 6749 §2.3.1: client_id and secret are form-urlencoded, then Basic-encoded."""
        pair = f"{quote_plus(self.client_id, safe='')}:{quote_plus(self.client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True)
class OurSetup:
    """The database, key directory, clients and user that every authserver of the run uses."""

    environment: dict[str, str]
    bench: Credentials
    introspector: Credentials
    web_app: Credentials
    username: str
    password: str


class Server:
    """One server process (group) with its log file."""

    def __init__(
        self,
        name: str,
        command: list[str],
        environment: dict[str, str],
        cwd: Path,
        log_path: Path,
        base_url: str,
        log_problem: re.Pattern[str],
    ) -> None:
        self.name = name
        self.log_problem = log_problem
        self.base_url = base_url
        self.log_path = log_path
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=environment,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_until_ready(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + path, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise ServerError(f"{self.name} did not answer {path} in time:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after STOP_TIMEOUT_SECONDS."""
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(STOP_TIMEOUT_SECONDS)
        # Workers may outlive their parent: the group goes in any case.
        _signal_group(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def log_problems(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if self.log_problem.search(line)]

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(pid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal_number)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def authserver_command(name: str) -> str:
    """The `authserver` script of the venv that runs this file."""
    return str(Path(sys.executable).parent / name)


def our_database_url(workdir: Path) -> str:
    """BENCH_OUR_DATABASE_URL (an empty database the caller made, e.g. on PostgreSQL), else
    a SQLite file in the run's directory."""
    return os.environ.get("BENCH_OUR_DATABASE_URL") or f"sqlite:///{workdir / 'authserver.db'}"


def our_database_kind() -> str:
    url = os.environ.get("BENCH_OUR_DATABASE_URL") or "sqlite"
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def our_environment(workdir: Path) -> dict[str, str]:
    """Defaults for everything, but a development-mode database (`our_database_url`) and
    key directory."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    environment |= {
        "AUTHSERVER_MODE": "development",
        "AUTHSERVER_DATABASE_URL": our_database_url(workdir),
        "AUTHSERVER_KEYS_DIR": str(workdir / "keys"),
        # One client makes every request, and the peer has no rate limit.
        "AUTHSERVER_CLIENT_RATE_LIMIT": "0",
    }
    return environment


def prepare_ours(workdir: Path) -> OurSetup:
    """`db upgrade`, the three clients and a user, through the CLI as an operator would."""
    environment = our_environment(workdir)
    cli = authserver_command("authserver")
    _run([cli, "db", "upgrade"], environment)
    bench = _create_client(
        cli,
        environment,
        f"bench --grant-type client_credentials --scope {BENCH_SCOPE} --audience {BENCH_AUDIENCE}",
    )
    introspector = _create_client(
        cli,
        environment,
        f"bench-introspect --grant-type client_credentials --scope {BENCH_SCOPE} --introspect",
    )
    web_app = _create_client(
        cli,
        environment,
        "bench-web --grant-type authorization_code --grant-type refresh_token "
        f"--redirect-uri {REDIRECT_URI} --scope 'openid profile'",
    )
    username, password = "bench-user", base64.urlsafe_b64encode(os.urandom(18)).decode()
    _run(
        [cli, "users", "create", "--username", username, "--password-stdin"],
        environment,
        stdin=password + "\n",
    )
    return OurSetup(environment, bench, introspector, web_app, username, password)


def _create_client(cli: str, environment: dict[str, str], arguments: str) -> Credentials:
    """`authserver clients create --name <arguments> --json`."""
    command = [cli, "clients", "create", "--name", *shlex.split(arguments), "--json"]
    created = json.loads(_run(command, environment))
    return Credentials(created["client_id"], created["client_secret"])


def _run(command: list[str], environment: dict[str, str], stdin: str | None = None) -> str:
    finished = subprocess.run(
        command,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if finished.returncode != 0:
        raise ServerError(f"{' '.join(command[:4])} failed: {finished.stderr.strip()[-1000:]}")
    return finished.stdout


ServerT = TypeVar("ServerT", bound="Server")


def start_ours(setup: OurSetup, workdir: Path, workers: int) -> Server:
    """`authserver serve --workers N --no-access-log` on a free port; ready when /healthz is."""
    return start_authserver(setup.environment, workdir, workers, Server)


def start_authserver(
    environment: dict[str, str], workdir: Path, workers: int, kind: type[ServerT]
) -> ServerT:
    """`authserver serve` with `environment` (AUTHSERVER_* settings) on a free port, as a
    `kind` of `Server`; ready when /healthz is."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    options = f"serve --host 127.0.0.1 --port {port} --workers {workers} --no-access-log"
    server = kind(
        f"authserver --workers {workers}",
        [authserver_command("authserver"), *options.split()],
        environment | {"AUTHSERVER_ISSUER": base_url},
        workdir,
        workdir / f"authserver-{workers}w-{port}.log",
        base_url,
        OUR_LOG_PROBLEM,
    )
    try:
        server.wait_until_ready("/healthz")
    except BaseException:
        server.stop()
        raise
    return server


def export_signing_key(keys_dir: Path, path: Path) -> dict[str, str]:
    """The `current` key as a private JWK with kid/alg/use, written 0600 to `path`."""
    store = FileKeyStore(keys_dir, None)
    current = [record for record in store.read_records() if record.state == KeyState.CURRENT]
    if len(current) != 1:
        raise ServerError(f"expected one current key in {keys_dir}, found {len(current)}")
    jwk = store.load_private_key(current[0].kid).as_dict(private=True)
    jwk |= {"kid": current[0].kid, "alg": "RS256", "use": "sig"}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(jwk, file)
    return current[0].public_jwk | {"kid": current[0].kid}
