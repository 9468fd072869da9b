"""The peer of bench/compare.py: node-oidc-provider (bench/peer), installed by `npm ci`.

It runs as `NODE_ENV=production WORKERS=2 node server.mjs` with authserver's bench client
(id, secret, scope, audience), web app (id, secret, redirect URI) and key. With Redis, its
tokens and sign-ins live in a store that both cluster workers share (a key prefix of its
own, deleted when it stops); without, each worker knows only its own, so introspection and
userinfo cannot be measured.
"""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

from compare_servers import (
    BENCH_AUDIENCE,
    BENCH_SCOPE,
    REDIRECT_URI,
    OurSetup,
    Server,
    ServerError,
    free_port,
)

PEER_DIR = Path(__file__).resolve().parent / "peer"
# Its error events (server.mjs writes them to stderr) and a worker that died.
PEER_LOG_PROBLEM = re.compile(r"error|exited \((?!SIGTERM)", re.IGNORECASE)


def peer_tools_missing() -> str:
    """Why the peer cannot run here (node or npm missing), or "" when it can."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found on PATH" if missing else ""


def install_peer(log_path: Path) -> str:
    """`npm ci` in bench/peer (the lock file pins oidc-provider); its installed version."""
    with log_path.open("ab") as log:
        finished = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    if finished.returncode != 0:
        raise ServerError(f"npm ci in {PEER_DIR} failed; see {log_path}")
    package = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    return json.loads(package.read_text())["version"]


def start_peer(
    setup: OurSetup, key_file: Path, workdir: Path, redis_url: str, redis_prefix: str
) -> Server:
    """`NODE_ENV=production WORKERS=2 node server.mjs` with our client, scope and audience."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "NODE_PATH"}
    environment |= {
        "NODE_ENV": "production",
        "WORKERS": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "KEY_FILE": str(key_file),
        "BENCH_CLIENT_ID": setup.bench.client_id,
        "BENCH_CLIENT_SECRET": setup.bench.client_secret,
        "BENCH_SCOPE": BENCH_SCOPE,
        "BENCH_AUDIENCE": BENCH_AUDIENCE,
        "BENCH_WEB_CLIENT_ID": setup.web_app.client_id,
        "BENCH_WEB_CLIENT_SECRET": setup.web_app.client_secret,
        "BENCH_REDIRECT_URI": REDIRECT_URI,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
    }
    server = Server(
        "node-oidc-provider",
        ["node", "server.mjs"],
        environment,
        PEER_DIR,
        workdir / f"peer-{port}.log",
        f"http://127.0.0.1:{port}",
        PEER_LOG_PROBLEM,
    )
    try:
        server.wait_until_ready("/jwks")
    except BaseException:
        server.stop()
        raise
    return server


def redis_answers(url: str) -> bool:
    """A PING to redis://host:port (no password), over a plain socket."""
    address = url.removeprefix("redis://").split("/", 1)[0]
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except (OSError, ValueError):
        return False
