"""The fuzz run's summary: how many cases schemathesis sent, and the statuses they got.

Under pytest-xdist each worker counts its own cases and hands them to the controller when
it finishes (`workeroutput`), which prints the sum.
"""

from collections import Counter

import pytest

FUZZ_CASES = pytest.StashKey[dict[str, Counter[int]]]()
WORKER_OUTPUT_KEY = "fuzz_cases"


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FUZZ_CASES] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: counts as plain dicts, for the controller
        statuses = session.config.stash.get(FUZZ_CASES, {})
        workeroutput[WORKER_OUTPUT_KEY] = {op: dict(seen) for op, seen in statuses.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up what a finished xdist worker counted."""
    counted = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY, {})
    statuses = node.config.stash[FUZZ_CASES]  # type: ignore[attr-defined]
    for operation, seen in counted.items():
        statuses.setdefault(operation, Counter()).update(
            {int(status): count for status, count in seen.items()}
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    statuses = terminalreporter.config.stash.get(FUZZ_CASES, {})
    if not statuses:
        return
    total = sum(sum(seen.values()) for seen in statuses.values())
    terminalreporter.write_sep("-", f"schemathesis: {total} cases over {len(statuses)} operations")
    for operation, seen in sorted(statuses.items()):
        answers = ", ".join(f"{status}x{count}" for status, count in sorted(seen.items()))
        terminalreporter.write_line(f"{sum(seen.values()):5d}  {operation}: {answers}")
