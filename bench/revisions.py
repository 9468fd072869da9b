"""client_credentials tokens/s of this tree beside an earlier revision, in one run.

    .venv/bin/python bench/revisions.py REV [--rounds 5] [--seconds 5] [--workers 2]

For a change whose cost must be shown on the whole request, not in a micro-benchmark: the
Token Status List (issue 15) says tokens/s with status allocation must stay within 5 % of
the rate without it, and the revision before it had none. `git worktree` checks REV out
in a temporary directory; both servers run from this venv (`authserver serve --workers N
--no-access-log`, SQLite, development mode), the earlier one with that tree first on
PYTHONPATH so its code, templates and migrations are the ones served. Rounds alternate
which server is measured first, each waiting for a quiet machine (load average below
BENCH_QUIET_LOAD, default 1.0, for at most 2 minutes), a 2 s warm-up, then `--seconds`
of wrk (2 threads, 16 connections) against each. Printed: each round's rates, the
medians, their spread, and the ratio of the medians (this tree / REV).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from compare_measure import Load, run_wrk, wait_for_quiet
from compare_servers import Server, prepare_ours, start_ours
from compare_targets import token_target

ROOT = Path(__file__).resolve().parent.parent
LOAD = Load(threads=2, connections=16)


def serve_tree(tree: Path | None, workdir: Path, workers: int, stack: ExitStack) -> Server:
    """A server of `tree` (None: this one), its database and client prepared in `workdir`."""
    saved = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree)
    try:
        setup = prepare_ours(workdir)
        server = start_ours(setup, workdir, workers)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    stack.callback(server.stop)
    server.target = token_target(server.base_url, setup.bench)  # type: ignore[attr-defined]
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    quiet_load = float(os.environ.get("BENCH_QUIET_LOAD", "1.0"))
    with (
        tempfile.TemporaryDirectory(prefix="authserver-revisions-") as temporary,
        ExitStack() as stack,
    ):
        directory = Path(temporary)
        earlier = directory / "tree"
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "--detach",
                str(earlier),
                arguments.revision,
            ],
            check=True,
            capture_output=True,
        )
        stack.callback(
            subprocess.run,
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)],
            check=False,
            capture_output=True,
        )
        (directory / "this").mkdir()
        (directory / "that").mkdir()
        servers = {
            "this tree": serve_tree(None, directory / "this", arguments.workers, stack),
            arguments.revision: serve_tree(earlier, directory / "that", arguments.workers, stack),
        }
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for number in range(arguments.rounds):
            quiet = wait_for_quiet(quiet_load, 120)
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            line = []
            for name in order:
                target = servers[name].target  # type: ignore[attr-defined]
                run_wrk(target, LOAD, 2)
                result = run_wrk(target, LOAD, arguments.seconds)
                rates[name].append(result.requests_per_second)
                line.append(f"{name}: {result.requests_per_second:,.0f}/s")
            print(
                f"round {number + 1} (load {quiet.load_average:.2f}): " + ", ".join(line),
                flush=True,
            )
        for name, values in rates.items():
            print(
                f"{name}: median {statistics.median(values):,.0f} tokens/s "
                f"(min {min(values):,.0f}, max {max(values):,.0f})"
            )
        this, that = (statistics.median(values) for values in rates.values())
        print(f"ratio this tree / {arguments.revision}: {this / that:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
