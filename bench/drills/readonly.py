"""Read-only or full key directory: rotation fails loudly, serving goes on.

`authserver serve --workers 2` with the file key store (SQLite: this drill needs no
PostgreSQL), set to rotate on its own every ~2 s (AUTHSERVER_KEYS_ROTATION_INTERVAL=1,
AUTHSERVER_KEYS_PUBLISH_BEFORE_USE=2), under load: client_credentials tokens, the JWKS,
/readyz. Then the key directory breaks, in two variants:

- `read-only`: as root (to whom permissions are no obstacle) a read-only bind mount of
  the directory onto itself; otherwise `chmod 0500`;
- `disk full`: the directory is a small tmpfs, filled up with a file (root only; not
  in the quick run).

While it is broken, `authserver keys rotate` is run, and one worker is killed with
SIGKILL (its replacement must start with the directory as it is). Then the directory is
repaired, and `keys rotate` run again. What must hold:

- `keys rotate` exits non-zero with one line on stderr, and leaves `keyring.json` as
  it was;
- every request is answered 200, and every token signed while the directory is broken
  carries the key that was current when it broke (after one reload interval), and is
  active at introspection afterwards;
- once repaired, `keys rotate` succeeds, the server signs with a newer key within a
  few reload intervals, and the killed worker is replaced (within two minutes).

Reported, not enforced (the brief asks what the server does today): what /readyz says
while rotation fails, how often the scheduled rotation logs its failure, whether the
killed worker's replacement starts, and any files a failed rotation left behind.
"""

import contextlib
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import jwt
from outcome import DrillResult
from seeding import SERVICE_AUDIENCE, Credentials, Seed, seed_database
from servers import Server, drill_environment, run_cli
from traffic import Exchange, Traffic, status_counts

RELOAD_SECONDS = 1
SETTLE_SECONDS = 1.5  # a rotation in flight when the directory broke may still land
PHASES = {False: (4.0, 10.0, 6.0), True: (2.0, 4.0, 3.0)}  # writable, broken, repaired
SCHEDULED_FAILURE = "scheduled key rotation failed"
TMPFS_SIZE = "256k"
# multiprocessing's line when a worker process ends with an exception (a failed start).
FAILED_START = "Process SpawnProcess"
REPLACEMENT_WAIT_SECONDS = 30.0
RECOVERY_WAIT_SECONDS = 120.0
UNMOUNT_WAIT_SECONDS = 5.0
REMOUNT_ATTEMPTS = 3


def run(quick: bool, rng: random.Random) -> DrillResult:
    result = DrillResult("readonly", "rotation into a read-only or full key directory")
    variants = _variants()
    if not variants:
        result.skipped = (
            "as root without mount(8) privileges: nothing can make a directory read-only"
        )
        return result
    if "disk full" not in variants:
        result.find("disk full: not run (it needs root and a tmpfs mount)")
    elif quick:
        variants.remove("disk full")  # the full run has it
    for variant in variants:
        _run_variant(result, variant, quick, rng)
    result.headline = "; ".join(
        f"{v}: rotate exit {result.figures[f'{v}: keys rotate exit status']}, "
        f"/readyz {result.figures[f'{v}: /readyz while broken']}"
        for v in variants
    )
    return result


def _variants() -> list[str]:
    if os.geteuid() != 0:
        return ["read-only"]
    return ["read-only", "disk full"] if _can_mount() else []


def _can_mount() -> bool:
    with tempfile.TemporaryDirectory(prefix="authserver-drill-probe-") as probe:
        mounted = _mount("-t", "tmpfs", "-o", "size=16k", "tmpfs", probe)
        if mounted:
            _mount_undo(probe)
        return mounted


def _run_variant(result: DrillResult, variant: str, quick: bool, rng: random.Random) -> None:
    writable, broken, repaired = PHASES[quick]
    prefix = f"{variant}: "
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authserver-drill-")))
        keys = workdir / "keys"
        keys.mkdir(mode=0o700)
        if variant == "disk full":
            stack.enter_context(_tmpfs(keys))
        database_url = f"sqlite:///{workdir / 'authserver.db'}"
        seed = seed_database(database_url, families=0)
        environment = drill_environment(
            database_url,
            keys,
            AUTHSERVER_KEYS_RELOAD_INTERVAL=str(RELOAD_SECONDS),
            AUTHSERVER_JWKS_MAX_AGE="1",
            AUTHSERVER_KEYS_PUBLISH_BEFORE_USE="2",
            AUTHSERVER_KEYS_ROTATION_INTERVAL="1",
        )
        server = stack.enter_context(Server(environment, workdir / "server.log", workers=2))
        environment = {"AUTHSERVER_ISSUER": server.base_url, **environment}
        traffic = _load(server.base_url, seed.service)
        with traffic:
            time.sleep(writable)
            broke = time.monotonic()
            log_at_break = len(server.log_text())
            repair = stack.enter_context(_broken(keys, variant))
            manifest = (keys / "keyring.json").read_bytes()
            rotated = run_cli(environment, "keys", "rotate")
            _check_rotation_refused(result, prefix, rotated, manifest, keys)
            startups = server.startups()
            killed_at = time.monotonic()
            os.kill(rng.choice(server.worker_pids()), signal.SIGKILL)
            _wait_for_replacement(server, startups, log_at_break, killed_at + broken)
            log_while_broken = server.log_text()[log_at_break:]
            _figure_replacement(result, prefix, server, startups, log_while_broken)
            leftovers = sorted(p.name for p in keys.iterdir() if p.name.endswith(".tmp"))
            stuck_kid = _last_kid(traffic)
            repair()
            repaired_at = time.monotonic()
            again = run_cli(environment, "keys", "rotate", "--json")
            _check_recovery(
                result, prefix, server, seed.service, again, startups, stuck_kid, repaired_at
            )
            time.sleep(max(0.0, repaired_at + repaired - time.monotonic()))
        exchanges = traffic.exchanges
        _check_serving(result, prefix, exchanges, killed_at)
        _check_tokens(result, prefix, server.base_url, seed, traffic, broke, repaired_at)
        _figure_readiness(result, prefix, exchanges, broke, repaired_at, killed_at)
        result.figure(
            prefix + "scheduled rotation failures logged", log_while_broken.count(SCHEDULED_FAILURE)
        )
        result.require(
            SCHEDULED_FAILURE in log_while_broken,
            f"{prefix}the scheduled rotation failed silently (no '{SCHEDULED_FAILURE}' in the log)",
        )
        result.figure(prefix + "files a failed rotation left behind", len(leftovers))
        if leftovers:
            result.find(
                f"{prefix}failed rotations left {len(leftovers)} temporary files in the key "
                f"directory (e.g. {leftovers[0]}), one per attempt of the scheduled rotation"
            )
        result.figure(prefix + "load answers by status", status_counts(exchanges))


def _load(base_url: str, service: Credentials) -> Traffic:
    traffic = Traffic()

    def tokens(traffic: Traffic) -> None:
        data = {"grant_type": "client_credentials", "resource": SERVICE_AUDIENCE}
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                traffic.call(
                    http, "token", "POST", "/token", data=data, auth=service.auth, keep_body=True
                )
                traffic.pause(0.01)

    def documents(traffic: Traffic) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while not traffic.stopping:
                traffic.call(http, "jwks", "GET", "/.well-known/jwks.json")
                traffic.call(http, "readyz", "GET", "/readyz", keep_body=True)
                traffic.pause(0.1)

    traffic.add("token", tokens)
    traffic.add("documents", documents)
    return traffic


@contextmanager
def _tmpfs(directory: Path) -> Iterator[None]:
    if not _mount("-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(directory)):
        raise RuntimeError(f"could not mount a tmpfs on {directory}")
    try:
        yield
    finally:
        _mount_undo(str(directory))


@contextmanager
def _broken(keys: Path, variant: str) -> Iterator[Callable[[], None]]:
    """Break the directory; yields the repair (also made on the way out, if not yet)."""
    repaired = False
    undo: Callable[[], None]
    if variant == "disk full":
        filler = keys / "filler"
        _fill(filler)
        undo = filler.unlink
    elif os.geteuid() == 0:
        _read_only_bind_mount(keys)

        def undo() -> None:
            _mount_undo(str(keys))

    else:
        keys.chmod(0o500)

        def undo() -> None:
            keys.chmod(0o700)

    def repair() -> None:
        nonlocal repaired
        if not repaired:
            repaired = True
            undo()

    try:
        yield repair
    finally:
        repair()


def _fill(filler: Path) -> None:
    """Write until the file system says ENOSPC."""
    with filler.open("wb", buffering=0) as file:
        for size in (65536, 4096, 1):
            while True:
                try:
                    file.write(b"\0" * size)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break


def _read_only_bind_mount(keys: Path) -> None:
    """A read-only bind mount of `keys` onto itself. The remount is tried a few times; if
    it never takes, the bind is undone (so the directory can be removed) and the error
    says what mount(8) said."""
    failed = _mount_error("--bind", str(keys), str(keys))
    if failed is not None:
        raise RuntimeError(f"could not bind-mount {keys}: {failed}")
    for attempt in range(REMOUNT_ATTEMPTS):
        failed = _mount_error("-o", "remount,ro,bind", str(keys))
        if failed is None:
            return
        time.sleep(0.1 * (attempt + 1))
    _mount_undo(str(keys))
    raise RuntimeError(f"could not remount {keys} read-only: {failed}")


def _mount(*arguments: str) -> bool:
    return _mount_error(*arguments) is None


def _mount_error(*arguments: str) -> str | None:
    """None once mount(8) did it; otherwise what it said."""
    if shutil.which("mount") is None:
        return "no mount(8)"
    finished = subprocess.run(["mount", *arguments], capture_output=True, check=False, timeout=30)
    if finished.returncode == 0:
        return None
    said = finished.stderr.decode("utf-8", "replace").strip()[:300]
    return said or f"exit status {finished.returncode}"


def _mount_undo(target: str) -> None:
    """Unmount `target`. A worker reading the keyring at that moment makes umount(8) fail
    with "target is busy" (EBUSY): try again for a while, then detach it lazily (the
    kernel finishes once the last reader is done), so the directory is writable again and
    can be removed either way."""
    deadline = time.monotonic() + UNMOUNT_WAIT_SECONDS
    while _is_mounted(target) and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["umount", target], capture_output=True, check=False, timeout=30)
        if _is_mounted(target):
            time.sleep(0.1)
    if _is_mounted(target):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["umount", "--lazy", target], capture_output=True, timeout=30)
    if _is_mounted(target):
        raise RuntimeError(f"could not unmount {target}")


def _is_mounted(target: str) -> bool:
    """Whether something is mounted on `target`. Not os.path.ismount: a bind mount of a
    directory onto itself keeps the device number that function compares."""
    path = os.path.realpath(target)
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        points = {_unescape(line.split()[4]) for line in mounts if line.strip()}
    return path in points


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _check_rotation_refused(
    result: DrillResult,
    prefix: str,
    rotated: subprocess.CompletedProcess[str],
    manifest: bytes,
    keys: Path,
) -> None:
    lines = rotated.stderr.strip().splitlines()
    result.figure(prefix + "keys rotate exit status", rotated.returncode)
    result.figure(prefix + "keys rotate stderr", " | ".join(lines) or "(nothing)")
    result.require(rotated.returncode != 0, f"{prefix}keys rotate exited 0 into a broken directory")
    result.require(
        len(lines) == 1 and lines[0].startswith("authserver: "),
        f"{prefix}keys rotate did not fail with one line: {rotated.stderr.strip()[:300]!r}",
    )
    result.require(
        (keys / "keyring.json").read_bytes() == manifest,
        f"{prefix}the failed keys rotate changed keyring.json",
    )


def _wait_for_replacement(server: Server, startups: int, log_from: int, until: float) -> None:
    """Until the killed worker's replacement serves or has failed to start (bounded by
    REPLACEMENT_WAIT_SECONDS), and at least until `until`."""
    deadline = time.monotonic() + REPLACEMENT_WAIT_SECONDS
    while time.monotonic() < deadline:
        failed = FAILED_START in server.log_text()[log_from:]
        if server.startups() > startups or failed:
            break
        time.sleep(0.1)
    time.sleep(max(0.0, until - time.monotonic()))


def _figure_replacement(
    result: DrillResult, prefix: str, server: Server, startups: int, log: str
) -> None:
    replaced = server.startups() > startups
    failed_starts = log.count(FAILED_START)
    result.figure(prefix + "killed worker replaced while broken", "yes" if replaced else "no")
    result.figure(prefix + "failed worker starts while broken", failed_starts)
    if not replaced:
        after_failure = log[log.find(FAILED_START) :].splitlines() if failed_starts else []
        cause = next((line for line in after_failure if re.match(r"^\w+Error: ", line)), "?")
        result.find(
            f"{prefix}the killed worker's replacement could not start while the key directory "
            f"was broken ({failed_starts} attempts, each a traceback in the log: {cause}); "
            "the supervisor kept respawning it and the server served on one worker"
        )


def _check_recovery(
    result: DrillResult,
    prefix: str,
    server: Server,
    service: Credentials,
    rotated: subprocess.CompletedProcess[str],
    startups: int,
    stuck_kid: str | None,
    repaired_at: float,
) -> None:
    """After the repair: `keys rotate` succeeds, signing moves on from the key that was
    stuck (the command's rotation, or the schedule's, reaches every worker), and the
    killed worker is replaced."""
    result.require(
        rotated.returncode == 0,
        f"{prefix}keys rotate failed after the repair: {rotated.stderr.strip()[:300]!r}",
    )
    took = _seconds_until_signing_without(server.base_url, service, stuck_kid, repaired_at)
    result.figure(prefix + "signing with a newer key after the repair, s", took)
    result.require(took is not None, f"{prefix}still signing with {stuck_kid} after the repair")
    while server.startups() <= startups and time.monotonic() < repaired_at + RECOVERY_WAIT_SECONDS:
        time.sleep(0.1)
    back = server.startups() > startups
    result.figure(
        prefix + "two workers again, s after the repair",
        round(time.monotonic() - repaired_at, 1) if back else "no",
    )
    if not back:
        supervisor = [line for line in server.log_text().splitlines() if "uvicorn.error" in line]
        result.violate(
            f"{prefix}the killed worker was not replaced within {RECOVERY_WAIT_SECONDS:.0f} s "
            f"of the repair; the supervisor's last lines: {' | '.join(supervisor[-4:])}"
        )


def _seconds_until_signing_without(
    base_url: str, service: Credentials, stuck_kid: str | None, started: float
) -> float | None:
    """Seconds from `started` until ten tokens in a row carry another key than
    `stuck_kid`, bounded."""
    in_a_row = 0
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while time.monotonic() - started < 10 * RELOAD_SECONDS + 10:
            data = {"grant_type": "client_credentials"}
            response = http.post("/token", data=data, auth=service.auth)
            signed_with = jwt.get_unverified_header(response.json()["access_token"])["kid"]
            in_a_row = in_a_row + 1 if signed_with != stuck_kid else 0
            if in_a_row == 10:
                return round(time.monotonic() - started, 2)
    return None


def _last_kid(traffic: Traffic) -> str | None:
    signed = [e for e in traffic.of_kind("token") if e.status == 200]
    if not signed:
        return None
    return jwt.get_unverified_header(json.loads(signed[-1].body)["access_token"])["kid"]


def _check_serving(
    result: DrillResult, prefix: str, exchanges: list[Exchange], killed_at: float
) -> None:
    """Every answer 200, but for requests the killed worker held (no answer at all)."""
    lost = _lost_with_the_killed_worker(exchanges, killed_at)
    bad = [e for e in exchanges if e.kind != "readyz" and e.status != 200 and e not in lost]
    result.figure(prefix + "requests lost with the killed worker", len(lost))
    result.require(not bad, f"{prefix}{len(bad)} answers other than 200: {status_counts(bad)}")


def _check_tokens(
    result: DrillResult,
    prefix: str,
    base_url: str,
    seed: Seed,
    traffic: Traffic,
    broke: float,
    repaired: float,
) -> None:
    """While broken (after SETTLE_SECONDS), one kid signs; those tokens are active."""
    signed = [
        json.loads(e.body)["access_token"]
        for e in traffic.of_kind("token")
        if e.status == 200 and broke + SETTLE_SECONDS < e.started and e.ended < repaired
    ]
    kids = {jwt.get_unverified_header(token)["kid"] for token in signed}
    result.figure(prefix + "tokens signed while broken, keys used", f"{len(signed)}, {len(kids)}")
    result.require(bool(signed), f"{prefix}no token was signed while the directory was broken")
    result.require(
        len(kids) <= 1, f"{prefix}{len(kids)} keys signed while rotation could not happen"
    )
    introspector = seed.introspector
    with httpx.Client(base_url=base_url, timeout=30) as http:
        inactive = sum(
            http.post("/introspect", data={"token": token}, auth=introspector.auth).json()["active"]
            is not True
            for token in signed[:: max(1, len(signed) // 50)]
        )
    result.require(inactive == 0, f"{prefix}{inactive} tokens signed while broken are inactive")


def _lost_with_the_killed_worker(exchanges: list[Exchange], killed_at: float) -> list[Exchange]:
    """Requests in flight on the worker the drill killed: no answer at all."""
    return [
        e
        for e in exchanges
        if e.status is None and e.started <= killed_at + 1.0 and e.ended >= killed_at
    ]


def _figure_readiness(
    result: DrillResult,
    prefix: str,
    exchanges: list[Exchange],
    broke: float,
    repaired: float,
    killed_at: float,
) -> None:
    # A probe the killed worker held got no answer, like any request it held: not a
    # readiness answer at all (_check_serving counts those).
    lost = _lost_with_the_killed_worker(exchanges, killed_at)
    probes = [
        e
        for e in exchanges
        if e.kind == "readyz" and broke < e.started and e.ended < repaired and e not in lost
    ]
    statuses = status_counts(probes)
    result.figure(
        prefix + "/readyz while broken", " ".join(f"{k}:{v}" for k, v in statuses.items())
    )
    bodies = [e.body.decode("utf-8", "replace") for e in probes]
    # Serving goes on (ready, 200), and /readyz says the scheduled rotation is failing.
    result.require(
        all(e.status == 200 for e in probes),
        f"{prefix}/readyz was not 200 throughout while only rotation was failing",
    )
    result.require(
        any('"key_rotation":"failing: ' in body for body in bodies),
        f"{prefix}/readyz never said the scheduled rotation was failing: "
        f"{bodies[-1] if bodies else 'no probe'}",
    )
