"""nginx with TLS in front of a real `authserver serve`, configured from deploy/nginx/.

The project's own templates are rendered with test ports and paths, as `make fleet` does;
the server's JSON log goes to a file so that tests can read its access-log lines.
"""

import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.processes import AUTHSERVER

# deploy/ is scripts, not a package: load the one module the fleet and this test share.
_spec = importlib.util.spec_from_file_location(
    "local_nginx", Path(__file__).resolve().parents[2] / "deploy" / "local_nginx.py"
)
assert _spec is not None and _spec.loader is not None
local_nginx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_nginx)
prepare_nginx = local_nginx.prepare_nginx

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authserver test")])
    now = datetime.now(UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "cert.pem", directory / "key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return certificate_path, key_path


def trusting(certificate: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only the test certificate."""
    return ssl.create_default_context(cafile=str(certificate))


@contextmanager
def running_nginx(
    directory: Path, *, port: int, upstream: str, certificate: Path, key: Path
) -> Iterator[str]:
    """nginx on 127.0.0.1:`port` with TLS, proxying to `upstream` (host:port, both upstream
    entries); every file it writes is under `directory`. Yields its https base URL."""
    assert NGINX is not None
    command = prepare_nginx(
        NGINX,
        directory,
        listen=f"127.0.0.1:{port}",
        server_name="127.0.0.1",
        upstreams=(upstream, upstream),
        certificate=certificate,
        key=key,
    )
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"https://127.0.0.1:{port}"
    try:
        _wait_until_answering(f"{base_url}/healthz", process, trusting(certificate))
        yield base_url
    finally:
        _stop(process)


@contextmanager
def serving(environment: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """`authserver serve` on 127.0.0.1:`port`, its log lines (stderr) written to `log`;
    yields its http base URL."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [AUTHSERVER, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(f"{base_url}/readyz", process, None, log)
        yield base_url
    finally:
        _stop(process)


def log_entry(log: Path, **expected: object) -> dict[str, Any]:
    """The first JSON line of `log` with these members. A request's line is written once
    its response has been sent, so it may lag the response a little."""
    deadline = time.monotonic() + 5
    while True:
        for entry in json_lines(log):
            if all(entry.get(name) == value for name, value in expected.items()):
                return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no line with {expected} in {log}")
        time.sleep(0.05)


def access_log_entry(log: Path, request_id: str) -> dict[str, Any]:
    """The server's access-log line (logger `authserver.access`) for a request id."""
    return log_entry(log, logger="authserver.access", request_id=request_id)


def json_lines(log: Path) -> Iterator[dict[str, Any]]:
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            yield entry


def _wait_until_answering(
    url: str,
    process: subprocess.Popen[bytes],
    verify: ssl.SSLContext | None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{url}: the process exited ({process.returncode}) {output}")
        try:
            if httpx.get(url, verify=verify or True, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process and its workers, SIGKILL after 15 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        process.wait()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
