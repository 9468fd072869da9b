"""The fault drills (issue 14): each puts a real `authserver serve` through one fault
under load, prints its figures, and counts violations of what must hold.

    python bench/drills/run.py [--quick] [--seed N] [--json FILE] [DRILL ...]

    crash       kill -9 of a worker under refresh load, PostgreSQL (crash.py)
    outage      PostgreSQL stopped and started under mixed load (outage.py)
    compromise  `authserver keys revoke` of the signing key under load (compromise.py)
    rotation    `authserver keys rotate` under load, caching verifiers (rotation.py)
    readonly    rotation into a read-only or full key directory (readonly.py)

Without DRILL names, all five run. `--quick` shortens them (fewer cycles, shorter
phases) for CI. The exit status is 0 when no drill found a violation, 1 otherwise (a
drill that could not run counts as one), 130 on Ctrl-C; a drill whose prerequisites are
missing (no PostgreSQL) is reported as skipped. Every server, database and directory a
drill makes is removed when it ends, Ctrl-C included. DRILLS_POSTGRES_URL names the
PostgreSQL to create throwaway databases on (default: the one at 127.0.0.1:5432).
"""

import argparse
import random
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import compromise
import crash
import outage
import readonly
import rotation
from outcome import DrillResult, print_summary, write_json

Drill = Callable[[bool, random.Random], DrillResult]
DRILLS: dict[str, Drill] = {
    "crash": crash.run,
    "outage": outage.run,
    "compromise": compromise.run,
    "rotation": rotation.run,
    "readonly": readonly.run,
}


def main(argv: list[str]) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if unknown := [name for name in arguments.drills if name not in DRILLS]:
        parser.error(f"unknown drill {unknown[0]!r}: choose among {', '.join(DRILLS)}")
    chosen = arguments.drills or list(DRILLS)
    seed = arguments.seed if arguments.seed is not None else secrets.randbelow(2**31)
    # Ctrl-C even where the shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    mode = "quick" if arguments.quick else "full"
    print(f"fault drills ({mode}): {', '.join(chosen)}; --seed {seed}", flush=True)
    results: list[DrillResult] = []
    began = time.monotonic()
    try:
        for name in chosen:
            results.append(_run_one(name, arguments.quick, seed))
    except KeyboardInterrupt:
        print("\ninterrupted: the drill's servers and databases were removed", file=sys.stderr)
        return 130
    seconds = time.monotonic() - began
    print_summary(results, seconds)
    if arguments.json is not None:
        write_json(results, arguments.json, seconds)
    return 1 if any(result.violations for result in results) else 0


def _run_one(name: str, quick: bool, seed: int) -> DrillResult:
    print(f"\n-- {name} ...", flush=True)
    rng = random.Random(seed)  # noqa: S311 - the moments of faults, not secrets
    began = time.monotonic()
    try:
        result = DRILLS[name](quick, rng)
    except Exception as error:  # noqa: BLE001 - a drill that cannot run is a failure
        result = DrillResult(name, "the drill could not run")
        result.violate(_described(error))
    result.seconds = time.monotonic() - began
    result.print()
    return result


def _described(error: BaseException) -> str:
    """The error, and the one it interrupted: a cleanup that fails (a directory still
    mounted, say) would otherwise hide what made the drill stop."""
    said = f"{type(error).__name__}: {error}"
    earlier = error.__cause__ or error.__context__
    if earlier is not None:
        said += f" (while handling {type(earlier).__name__}: {earlier})"
    return said


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Fault drills: crash, database outage, key compromise, read-only keys."
    )
    parser.add_argument("drills", nargs="*", metavar="DRILL", help=", ".join(DRILLS))
    parser.add_argument("--quick", action="store_true", help="the shortened counts CI runs")
    parser.add_argument("--seed", type=int, help="seed of the random moments (printed)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser


def _interrupt(_number: int, _frame: FrameType | None) -> None:
    """SIGINT and SIGTERM end the drills through every cleanup on the way out."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
