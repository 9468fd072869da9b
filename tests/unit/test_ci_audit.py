"""CI's dependency audit (.ci/audit.py, issue 14 item 8): what it makes of pip-audit's
JSON report. Fails on a known vulnerability that has a fixed version; passes on one
without a fix (nothing to upgrade to) and on a clean report; says plainly when nothing
could be looked up (no advisory data reachable), which is no failure."""

import importlib.util
from pathlib import Path
from types import ModuleType

AUDIT = Path(__file__).parents[2] / ".ci" / "audit.py"


def audit_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", AUDIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def package(name: str, version: str, *vulns: dict[str, object]) -> dict[str, object]:
    return {"name": name, "version": version, "vulns": list(vulns)}


def test_a_vulnerability_with_a_fix_fails_the_audit_and_names_the_fix() -> None:
    report = {
        "dependencies": [
            package("starlette", "0.40.0", {"id": "CVE-2025-54121", "fix_versions": ["0.47.2"]}),
            package("cryptography", "51.0.1"),
        ]
    }
    status, lines = audit_module().verdict(report)
    assert status == 1
    assert "pip-audit: starlette 0.40.0: CVE-2025-54121 (fixed in 0.47.2)" in lines
    assert lines[-1] == "pip-audit: 2 packages audited, 1 fixable vulnerabilities"


def test_a_vulnerability_without_a_fix_and_a_clean_report_pass() -> None:
    unfixed = {"id": "GHSA-xxxx", "fix_versions": []}
    report = {"dependencies": [package("a", "1.0", unfixed), package("b", "2.0")]}
    assert audit_module().verdict(report) == (
        0,
        ["pip-audit: 2 packages audited, 0 fixable vulnerabilities"],
    )


def test_nothing_looked_up_is_said_and_is_no_failure() -> None:
    skipped = {"name": "alembic", "skip_reason": "Dependency not found on PyPI"}
    status, lines = audit_module().verdict({"dependencies": [skipped]})
    assert status == 0
    assert lines == ["pip-audit: none of 1 packages could be looked up, audit skipped"]
