"""CPU time of the benchmarked server and its PostgreSQL backends; RSA cost in-process.

    python bench/cputime.py snapshot FILE PGID [DATABASE]
    python bench/cputime.py since FILE PGID [DATABASE]
    python bench/cputime.py rsa

`snapshot` records the user + system CPU time of every live process in process group
PGID (bench/run.sh starts the server with setsid, so the group is the server and its
workers) and of every PostgreSQL backend serving DATABASE (a backend's command line
names its database), and the machine's busy CPU time (/proc/stat). `since` prints four
numbers: the CPU seconds the server and those backends used since the snapshot (per
process, what it used since, or all it used if it started since; a process that ended
in between is missed, so these can only undercount), the CPU seconds all the machine's
processes used, and the CPU seconds that passed (wall time x cores). run.sh divides the
first two by the requests of the wrk run in between: the CPU cost of a request, which
other work on the machine skews far less than requests/s. The last two show how much
of the machine everything else (wrk included) took meanwhile.

`rsa` prints the CPU milliseconds of one RSA-2048 PKCS#1 v1.5 SHA-256 signature and of
one verification, made in this process by the library the server signs with
(`cryptography`, which brings its own OpenSSL, not necessarily the `openssl` command's),
then that library's versions.

Linux only (/proc).
"""

import json
import os
import sys
import time

from compare_measure import PROC_STAT, parse_cpu_ticks

Reading = dict[str, tuple[str, int]]


def read_processes(pgid: int, database: str | None) -> Reading:
    """pid -> ("server" or "postgres", CPU ticks) for the processes that matter."""
    found: Reading = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                command = file.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        # After the parenthesised command name: pgrp is field 5, utime 14, stime 15 (proc(5)).
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        if int(fields[2]) == pgid:
            found[entry] = ("server", ticks)
        elif database and command.startswith("postgres: ") and f" {database} " in command:
            found[entry] = ("postgres", ticks)
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of all cores since boot."""
    ticks = parse_cpu_ticks(PROC_STAT.read_text())
    return ticks.total - ticks.idle, ticks.total


def since(before: Reading, now: Reading) -> tuple[float, float]:
    used = {"server": 0, "postgres": 0}
    for pid, (kind, ticks) in now.items():
        previous = before.get(pid)
        start = previous[1] if previous is not None and previous[0] == kind else 0
        used[kind] += max(ticks - start, 0)
    per_second = os.sysconf("SC_CLK_TCK")
    return used["server"] / per_second, used["postgres"] / per_second


def rsa_cost() -> str:
    import cryptography
    from cryptography.hazmat.backends.openssl import backend
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 400  # about the size of an access token's signing input
    signatures = 300
    start = time.process_time()
    for _ in range(signatures):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    sign_ms = 1000 * (time.process_time() - start) / signatures
    public = key.public_key()
    verifications = 3000
    start = time.process_time()
    for _ in range(verifications):
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    verify_ms = 1000 * (time.process_time() - start) / verifications
    library = f"cryptography {cryptography.__version__}, {backend.openssl_version_text()}"
    return f"{sign_ms:.3f} {verify_ms:.4f} {library}"


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[1] == "rsa":
        print(rsa_cost())
        return
    if len(argv) not in (4, 5) or argv[1] not in ("snapshot", "since") or not argv[3].isdigit():
        raise SystemExit(__doc__)
    path, pgid = argv[2], int(argv[3])
    now = read_processes(pgid, argv[4] if len(argv) == 5 else None)
    busy, total = machine_ticks()
    if argv[1] == "snapshot":
        with open(path, "w") as file:
            json.dump({"processes": now, "machine": [busy, total]}, file)
        return
    with open(path) as file:
        saved = json.load(file)
    before = {pid: (kind, ticks) for pid, (kind, ticks) in saved["processes"].items()}
    server, postgres = since(before, now)
    per_second = os.sysconf("SC_CLK_TCK")
    machine_busy = (busy - saved["machine"][0]) / per_second
    machine_total = (total - saved["machine"][1]) / per_second
    print(f"{server:.2f} {postgres:.2f} {machine_busy:.2f} {machine_total:.2f}")


if __name__ == "__main__":
    main(sys.argv)
