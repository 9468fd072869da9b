"""The fuzz run's summary: how many cases schemathesis sent, and the statuses they got."""

from collections import Counter

import pytest

FUZZ_CASES = pytest.StashKey[dict[str, Counter[int]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FUZZ_CASES] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    statuses = terminalreporter.config.stash.get(FUZZ_CASES, {})
    if not statuses:
        return
    total = sum(sum(seen.values()) for seen in statuses.values())
    terminalreporter.write_sep("-", f"schemathesis: {total} cases over {len(statuses)} operations")
    for operation, seen in sorted(statuses.items()):
        answers = ", ".join(f"{status}x{count}" for status, count in sorted(seen.items()))
        terminalreporter.write_line(f"{sum(seen.values()):5d}  {operation}: {answers}")
