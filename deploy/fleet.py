"""`make fleet`: the production shape on one machine, in the foreground until Ctrl-C.

nginx terminates TLS on https://127.0.0.1:8443 and proxies to two replicas
(`authserver serve --workers 2` on 127.0.0.1:8101 and :8102) in production mode, sharing
the machine's PostgreSQL (database `authserver_fleet`) and Redis. Everything else lives
in var/fleet/; Ctrl-C (or SIGTERM) stops every process this script started.
docs/deployment.md describes the shape; deploy/compose.yaml is the same with containers.
"""

# It runs commands it names itself (authserver, nginx, openssl, apt-get), as bench/ does.
# ruff: noqa: S603, S607

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from local_nginx import prepare_nginx

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "var" / "fleet"
AUTHSERVER = str(Path(sys.executable).with_name("authserver"))

HOST = "127.0.0.1"
PROXY_PORT = 8443
REPLICA_PORTS = (8101, 8102)
ISSUER = f"https://{HOST}:{PROXY_PORT}"
POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DATABASE = "authserver_fleet"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
REDIS = (HOST, 6379)
REDIS_URL = "redis://127.0.0.1:6379/0"

PASSPHRASE = FLEET / "passphrase"
CERTIFICATE = FLEET / "tls" / "cert.pem"
CERTIFICATE_KEY = FLEET / "tls" / "key.pem"
NGINX_DIR = FLEET / "nginx"


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler: stop everything and exit."""


class FleetError(Exception):
    """A step failed; the message says which and what to do."""


def main() -> int:
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stop)
    try:
        run(started)
    except Stop:
        say("stopping")
        return 0
    except FleetError as error:
        say(f"error: {error}")
        return 1
    finally:
        stop(started)
    return 0


def run(started: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    nginx = ensure_nginx()
    check_ports_free(*REPLICA_PORTS, PROXY_PORT)
    check_redis()
    FLEET.mkdir(parents=True, exist_ok=True)
    new_passphrase = ensure_passphrase()
    if new_passphrase:
        remove_replica_keys()
    ensure_database(fresh=new_passphrase)
    ensure_certificate()
    environment = fleet_environment()
    write_env_script()
    migrate(environment)
    for number, port in enumerate(REPLICA_PORTS, start=1):
        started.append((f"replica-{number}", start_replica(environment, number, port)))
    for (name, process), port in zip(started, REPLICA_PORTS, strict=True):
        wait_until_ready(name, process, f"http://{HOST}:{port}")
    started.append(("nginx", start_nginx(nginx)))
    wait_until_ready("nginx", started[-1][1], ISSUER, client=proxy_client())
    check_discovery()
    print_summary()
    note_key_stores()
    watch(started)


def ensure_nginx() -> str:
    """Debian's nginx; installed with apt-get when missing (as root)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise FleetError("nginx is missing: install it (Debian: sudo apt-get install -y nginx)")
    say("installing nginx (apt-get install -y nginx)")
    install = ["apt-get", "install", "-y", "-qq", "nginx"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=environment).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=environment, check=False)
        if subprocess.run(install, env=environment).returncode != 0:
            raise FleetError("apt-get install -y nginx failed")
    return shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin") or "nginx"


def check_ports_free(*ports: int) -> None:
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                raise FleetError(f"{HOST}:{port} is in use (another make fleet?)") from None


def check_redis() -> None:
    try:
        with socket.create_connection(REDIS, timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            answer = connection.recv(64)
    except OSError as error:
        raise FleetError(f"no Redis answers at {REDIS[0]}:{REDIS[1]} ({error})") from None
    if not answer.startswith(b"+PONG"):
        raise FleetError(f"Redis at {REDIS[0]}:{REDIS[1]} answered {answer!r} to PING")
    say(f"Redis answers at {REDIS[0]}:{REDIS[1]}")


def ensure_passphrase() -> bool:
    """The keys passphrase, made once (mode 0600); True when it was made just now."""
    if PASSPHRASE.exists():
        return False
    descriptor = os.open(PASSPHRASE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    say(f"new keys passphrase in {relative(PASSPHRASE)} (mode 0600)")
    return True


def remove_replica_keys() -> None:
    """Key files sealed with an earlier passphrase could not be read."""
    for number in range(1, len(REPLICA_PORTS) + 1):
        keys = FLEET / f"replica-{number}" / "keys"
        if keys.exists():
            shutil.rmtree(keys)
            say(f"removed {relative(keys)} (sealed with the lost passphrase)")


def ensure_database(*, fresh: bool) -> None:
    """The fleet's database; with a new passphrase a fresh one, since keys stored under the
    old passphrase could not be read."""
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists and fresh:
                connection.execute(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
                say(f"dropped database {DATABASE} (its keys need the lost passphrase)")
            if not exists or fresh:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')
                say(f"created database {DATABASE}")
    except psycopg.OperationalError as error:
        message = str(error).strip().splitlines()[0]
        raise FleetError(f"PostgreSQL at 127.0.0.1:5432 (user postgres): {message}") from None


def ensure_certificate() -> None:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for 90 days."""
    if CERTIFICATE.exists() and CERTIFICATE_KEY.exists():
        return
    CERTIFICATE.parent.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90",
         "-subj", "/CN=authserver fleet (127.0.0.1)",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(CERTIFICATE_KEY), "-out", str(CERTIFICATE)],
        check=True, capture_output=True,
    )  # fmt: skip
    CERTIFICATE_KEY.chmod(0o600)
    say(f"self-signed certificate {relative(CERTIFICATE)} for 127.0.0.1 and localhost")


def fleet_environment() -> dict[str, str]:
    """The replicas' settings (each replica adds its own AUTHSERVER_KEYS_DIR)."""
    return {
        **os.environ,
        "AUTHSERVER_MODE": "production",
        "AUTHSERVER_ISSUER": ISSUER,
        "AUTHSERVER_DATABASE_URL": DATABASE_URL,
        "AUTHSERVER_KEYS_STORE": "database",
        "AUTHSERVER_KEYS_PASSPHRASE": PASSPHRASE.read_text().strip(),
        "AUTHSERVER_REDIS_URL": REDIS_URL,
        "AUTHSERVER_TRUSTED_PROXIES": f"{HOST}/32",
        "AUTHSERVER_LOG_FORMAT": "json",
        "AUTHSERVER_KEYS_DIR": str(FLEET / "replica-1" / "keys"),
    }


def write_env_script() -> None:
    """var/fleet/env.sh: `. var/fleet/env.sh` gives a shell the replicas' settings, for the
    CLI; the passphrase stays in its own file."""
    keys_dir = FLEET / "replica-1" / "keys"
    lines = [
        "# The settings of make fleet's replicas, for authserver commands: . var/fleet/env.sh",
        "export AUTHSERVER_MODE=production",
        f"export AUTHSERVER_ISSUER={ISSUER}",
        f"export AUTHSERVER_DATABASE_URL={DATABASE_URL}",
        "export AUTHSERVER_KEYS_STORE=database",
        f"export AUTHSERVER_KEYS_DIR={keys_dir}",
        f'export AUTHSERVER_KEYS_PASSPHRASE="$(cat {PASSPHRASE})"',
        f"export AUTHSERVER_REDIS_URL={REDIS_URL}",
        f"export AUTHSERVER_TRUSTED_PROXIES={HOST}/32",
    ]
    (FLEET / "env.sh").write_text("\n".join(lines) + "\n")


def migrate(environment: dict[str, str]) -> None:
    result = subprocess.run(
        [AUTHSERVER, "db", "upgrade"], env=environment, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise FleetError(f"authserver db upgrade: {result.stderr.strip()}")
    say(f"migrations applied to {DATABASE}")


def start_replica(environment: dict[str, str], number: int, port: int) -> subprocess.Popen[bytes]:
    directory = FLEET / f"replica-{number}"
    directory.mkdir(exist_ok=True)
    log = (FLEET / f"replica-{number}.log").open("wb")
    command = [AUTHSERVER, "serve", "--host", HOST, "--port", str(port), "--workers", "2"]
    environment = {**environment, "AUTHSERVER_KEYS_DIR": str(directory / "keys")}
    with log:
        return subprocess.Popen(
            command,
            env=environment,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def start_nginx(nginx: str) -> subprocess.Popen[bytes]:
    try:
        command = prepare_nginx(
            nginx,
            NGINX_DIR,
            listen=f"{HOST}:{PROXY_PORT}",
            server_name=f"{HOST} localhost",
            upstreams=(f"{HOST}:{REPLICA_PORTS[0]}", f"{HOST}:{REPLICA_PORTS[1]}"),
            certificate=CERTIFICATE,
            key=CERTIFICATE_KEY,
        )
    except RuntimeError as error:
        raise FleetError(str(error)) from None
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def proxy_client() -> httpx.Client:
    return httpx.Client(verify=str(CERTIFICATE), timeout=5)


def wait_until_ready(
    name: str,
    process: subprocess.Popen[bytes],
    base_url: str,
    client: httpx.Client | None = None,
) -> None:
    client = client or httpx.Client(timeout=2)
    deadline = time.monotonic() + 60
    with client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise FleetError(f"{name} exited ({process.returncode}); {log_hint(name)}")
            try:
                if client.get(f"{base_url}/readyz").status_code == 200:
                    say(f"{name} ready at {base_url}")
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise FleetError(f"{name} was not ready within 60 s; {log_hint(name)}")


def log_hint(name: str) -> str:
    log = NGINX_DIR / "error.log" if name == "nginx" else FLEET / f"{name}.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
    return f"see {relative(log)}" + "".join(f"\n    {line}" for line in tail)


def check_discovery() -> None:
    """Once: discovery through nginx names the https issuer."""
    with proxy_client() as client:
        response = client.get(f"{ISSUER}/.well-known/openid-configuration")
    issuer = response.json().get("issuer") if response.status_code == 200 else None
    if issuer != ISSUER:
        raise FleetError(f"discovery through nginx: {response.status_code}, issuer {issuer!r}")
    say(f"check: discovery through nginx names the issuer {issuer}: ok")


def print_summary() -> None:
    cert = relative(CERTIFICATE)
    print(
        f"""
The fleet is running (Ctrl-C stops all of it):
  {ISSUER}   nginx, TLS with the self-signed {cert}
  http://{HOST}:{REPLICA_PORTS[0]}    replica-1: authserver serve --workers 2
  http://{HOST}:{REPLICA_PORTS[1]}    replica-2: authserver serve --workers 2
  PostgreSQL database {DATABASE} on 127.0.0.1:5432, Redis {REDIS_URL}

Try it:
  curl --cacert {cert} {ISSUER}/.well-known/openid-configuration

  . var/fleet/env.sh    # the replicas' settings, for authserver commands
  .venv/bin/authserver clients create --name "Fleet job" \\
      --grant-type client_credentials --scope "reports:read" --json
  curl --cacert {cert} -u "$CLIENT_ID:$CLIENT_SECRET" \\
      -d grant_type=client_credentials -d scope=reports:read {ISSUER}/token

Logs (JSON lines, matched by request_id):
  {relative(FLEET / "replica-1.log")}, {relative(FLEET / "replica-2.log")}
  {relative(NGINX_DIR / "access.log")}, {relative(NGINX_DIR / "error.log")}
""",
        flush=True,
    )


def note_key_stores() -> None:
    """Say so when the replicas publish different keys: then a token verifies only at the
    replica that signed it (the database key store is not in effect)."""
    with httpx.Client(timeout=5) as client:
        sets = [
            client.get(f"http://{HOST}:{port}/.well-known/jwks.json").text for port in REPLICA_PORTS
        ]
    if sets[0] != sets[1]:
        say(
            "note: the replicas publish different signing keys (AUTHSERVER_KEYS_STORE=database "
            "is not in effect): a token verifies only at the replica that signed it"
        )


def watch(started: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    while True:
        for name, process in started:
            if process.poll() is not None:
                raise FleetError(f"{name} exited ({process.returncode}); {log_hint(name)}")
        time.sleep(1)


def stop(started: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Every process started, nginx first; SIGTERM to each process group, SIGKILL after 15 s."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    for _, process in reversed(started):
        signal_group(process, signal.SIGTERM)
    for name, process in reversed(started):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait()
        say(f"{name} stopped")


def signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """The process and its workers (each was started in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _raise_stop(signum: int, _: object) -> None:
    raise Stop(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"fleet: {message}", flush=True)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
