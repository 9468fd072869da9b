"""`authserver serve` for bench/memory.py and bench/growth.py: its processes, their memory.

`serve` starts `authserver serve --workers N --no-access-log` in its own session, as
bench/run.sh and bench/compare.py do, and waits for `/healthz`. Its workers are the
children of the supervisor that uvicorn spawned (`multiprocessing.spawn`), found in
/proc; `resident_kib` reads a process's VmRSS. Linux only (/proc).
"""

import os
from pathlib import Path

from compare_servers import Server, start_authserver

_SPAWNED_WORKER = b"spawn_main"


class ServedAuthserver(Server):
    """A `Server` whose process tree can be read: the supervisor and its workers."""

    @property
    def pid(self) -> int:
        """The supervisor, leader of the server's process group."""
        return self._process.pid

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (its resource tracker, if any, is no worker)."""
        return [pid for pid in child_pids(self.pid) if _SPAWNED_WORKER in _command_line(pid)]


def serve(environment: dict[str, str], workdir: Path, workers: int) -> ServedAuthserver:
    """`authserver serve` with `environment` (AUTHSERVER_* settings) on a free port."""
    return start_authserver(environment, workdir, workers, ServedAuthserver)


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is `parent`, in pid order."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # After the parenthesised command name: state, then ppid (proc(5)).
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            children.append(int(entry))
    return sorted(children)


def resident_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB (resident memory: anonymous, file-backed and shared pages)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


def load_averages() -> str:
    """The 1, 5 and 15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
