"""docs/security-checklist.md stays exact: every test it names exists, its statuses agree
with the xfail marks, and every checklist test is on it (SECURITY-CHECKLIST "Tests that
must exist" 1; issue 14 item 2)."""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "security-checklist.md"
REFERENCE = re.compile(r"`(tests/[A-Za-z0-9_/]+\.py)::(test_[A-Za-z0-9_]+)`")
STATUSES = {"covered", "xfail: server fix pending", "partial"}
CHECKLIST_TEST_FILES = sorted(
    str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "http").glob("test_checklist_*.py")
)


@dataclass(frozen=True)
class Row:
    number: str
    status: str
    tests: list[tuple[str, str]]  # (path, test name)


def rows() -> list[Row]:
    """The table rows of the map: `| # | line | clause | tests | status |`."""
    found = []
    for line in MAP.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 5 or cells[0] in ("#", "---"):
            continue
        found.append(Row(cells[0], cells[-1], REFERENCE.findall(line)))
    return found


def function_named(path: str, name: str) -> Callable[..., Any] | None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    function = getattr(module, name, None)
    return function if callable(function) else None


def is_xfail(function: Callable[..., Any]) -> bool:
    """Marked xfail itself, or in one of its parametrized cases."""
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "xfail":
            return True
        if mark.name == "parametrize":
            cases = mark.args[1] if len(mark.args) > 1 else mark.kwargs.get("argvalues", [])
            if any(m.name == "xfail" for case in cases for m in getattr(case, "marks", ())):
                return True
    return False


def test_the_map_has_a_row_for_every_part_of_the_checklist() -> None:
    numbers = [row.number for row in rows()]
    assert len(numbers) == len(set(numbers)), numbers
    # The checklist's sections: every endpoint (0), tokens (T), /authorize (A), /token (K),
    # /revoke and /introspect (R), keys (S), tests that must exist (M1-M8), dependencies (D).
    assert {number.rstrip("0123456789") for number in numbers} == {
        "", "T", "A", "K", "R", "S", "M", "D"
    }  # fmt: skip
    assert [n for n in numbers if n.startswith("M")] == [f"M{i}" for i in range(1, 9)]
    for row in rows():
        assert row.status in STATUSES, row
        assert row.tests, f"row {row.number} names no test"


def test_every_test_the_map_names_exists() -> None:
    missing = [
        f"{row.number}: {path}::{name}"
        for row in rows()
        for path, name in row.tests
        if not (ROOT / path).is_file() or function_named(path, name) is None
    ]
    assert missing == []


def test_a_row_says_xfail_exactly_when_one_of_its_tests_is_marked_xfail() -> None:
    """An xfail mark is a line the server does not yet follow: its row must say so, and a
    row must stop saying so once the fix removed the mark."""
    disagreeing = []
    for row in rows():
        functions = [function_named(path, name) for path, name in row.tests]
        marked = any(function is not None and is_xfail(function) for function in functions)
        if marked != row.status.startswith("xfail"):
            disagreeing.append((row.number, row.status))
    assert disagreeing == []


@pytest.mark.parametrize("path", CHECKLIST_TEST_FILES)
def test_every_checklist_test_is_on_the_map(path: str) -> None:
    named = {name for row in rows() for file, name in row.tests if file == path}
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    tests = {name for name in vars(module) if name.startswith("test_")}
    assert tests - named == set()
