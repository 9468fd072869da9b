"""CI: known vulnerabilities with a fix in the installed set (pip-audit), SECURITY-CHECKLIST
"Dependencies" and issue 14.

Fails when pip-audit reports a vulnerability that has a fixed version. Where no advisory
data can be reached (a mirror without PyPI's JSON API, no route to OSV), pip-audit can
audit nothing: that is said plainly and is no failure, since CI must not depend on a
service outside the machine; the run's log shows which it was.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def main() -> int:
    result = subprocess.run(  # noqa: S603 - our venv's pip-audit, fixed arguments
        [str(PIP_AUDIT), "--progress-spinner", "off", "--skip-editable", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit: no advisory data reachable, audit skipped ({_last_line(result)})")
        return 0
    status, lines = verdict(report)
    for line in lines:
        print(line)
    return status


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    """Exit status and lines to print for pip-audit's JSON report (`-f json`)."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        skipped = f"none of {len(dependencies)} packages could be looked up, audit skipped"
        return 0, [f"pip-audit: {skipped}"]
    fixable = [
        f"pip-audit: {d['name']} {d['version']}: {v['id']} (fixed in {_versions(v)})"
        for d in audited
        for v in d.get("vulns", [])
        if v.get("fix_versions")
    ]
    summary = f"pip-audit: {len(audited)} packages audited, {len(fixable)} fixable vulnerabilities"
    return (1 if fixable else 0), [*fixable, summary]


def _versions(vulnerability: dict[str, Any]) -> str:
    return ", ".join(vulnerability["fix_versions"])


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"exit {result.returncode}"


if __name__ == "__main__":
    sys.exit(main())
