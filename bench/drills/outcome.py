"""What a drill found: its figures, its violations, and what the server does today.

A violation breaks a rule the drill enforces (the runner exits non-zero); a finding is
a fact the drill reports about today's behaviour without failing on it (what /readyz
says about a failed rotation, say).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MAX_LISTED = 20


@dataclass
class DrillResult:
    name: str
    title: str
    figures: dict[str, object] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    headline: str = ""
    seconds: float = 0.0
    skipped: str | None = None

    def figure(self, name: str, value: object) -> None:
        self.figures[name] = value

    def violate(self, message: str) -> None:
        self.violations.append(message)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.violations.append(message)

    def find(self, message: str) -> None:
        self.findings.append(message)

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skipped"
        return "VIOLATED" if self.violations else "ok"

    def print(self) -> None:
        print(f"\n== {self.name}: {self.title}", flush=True)
        if self.skipped is not None:
            print(f"   skipped: {self.skipped}")
            return
        width = max((len(name) for name in self.figures), default=0)
        for name, value in self.figures.items():
            print(f"   {name:<{width}}  {_shown(value)}")
        print(f"   {'violations':<{width}}  {len(self.violations)}")
        for message in self.violations[:MAX_LISTED]:
            print(f"     VIOLATION: {message}")
        if len(self.violations) > MAX_LISTED:
            print(f"     ... and {len(self.violations) - MAX_LISTED} more")
        for message in self.findings:
            print(f"     finding: {message}")
        print(f"   took {self.seconds:.1f} s", flush=True)


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) or "-"
    return str(value)


def print_summary(results: list[DrillResult], seconds: float) -> None:
    rows = [("drill", "status", "violations", "seconds", "figures")]
    for result in results:
        violations = "-" if result.skipped is not None else str(len(result.violations))
        headline = result.skipped if result.skipped is not None else result.headline
        rows.append(
            (result.name, result.status, violations, f"{result.seconds:.1f}", headline or "")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print("\n== summary")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        print("   " + "  ".join([*cells, row[4]]).rstrip())
    print(f"   all drills: {seconds:.1f} s", flush=True)


def write_json(results: list[DrillResult], path: Path, seconds: float) -> None:
    document = {"seconds": round(seconds, 3), "drills": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
