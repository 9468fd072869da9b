"""The fault drills of bench/drills (issue 14, item 5) in their quick form, as CI runs them.

Each test runs `bench/drills/run.py --quick DRILL` in a process of its own (the drills
start servers, stop a private PostgreSQL, kill workers and mount file systems: nothing
of that belongs in the test process) and asserts that the drill found no violation.
The rules each drill enforces are in its module docstring; the four together take about
two minutes on a 2-core machine. A drill whose prerequisites are missing here (no
PostgreSQL, no PostgreSQL binaries for a private cluster, no mount privileges as root)
is skipped with its reason.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "drills" / "run.py"


def run_quick_drill(name: str, tmp_path: Path) -> dict[str, Any]:
    """The drill's result (figures, violations, findings); skips when it was skipped."""
    report = tmp_path / "drills.json"
    environment = {**os.environ, "DRILLS_POSTGRES_URL": POSTGRES_URL}
    finished = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--seed", "14", "--json", str(report), name],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = finished.stdout[-6000:] + finished.stderr[-3000:]
    assert report.exists(), output
    (drill,) = json.loads(report.read_text())["drills"]
    if drill["skipped"] is not None:
        pytest.skip(drill["skipped"])
    assert drill["violations"] == [], output
    assert finished.returncode == 0, output
    return drill


@pytest.mark.postgresql
def test_killing_a_worker_under_refresh_load_never_forks_a_family_nor_loses_a_token(
    tmp_path: Path,
) -> None:
    """RFC 9700 §4.14.2 (one live token per family), RFC 6749 §6 (an acknowledged
    rotation holds) across `kill -9` of a worker mid-request."""
    figures = run_quick_drill("crash", tmp_path)["figures"]
    assert figures["workers killed and replaced"] == figures["cycles"] > 0
    assert figures["refresh tokens acknowledged with a 200"] > 0


@pytest.mark.postgresql
def test_a_database_outage_is_answered_with_503_and_recovered_from_within_5_s(
    tmp_path: Path,
) -> None:
    """RFC 6749 §4.1.2.1 `temporarily_unavailable` with Retry-After while PostgreSQL is
    down, the JWKS and discovery from memory, no 500, no uncommitted write acknowledged."""
    figures = run_quick_drill("outage", tmp_path)["figures"]
    assert "503" in figures["database: down"]["refresh"]
    assert figures["database: down"]["jwks"].startswith("200:")


@pytest.mark.postgresql
def test_revoking_the_signing_key_under_load_kills_its_tokens_and_no_other(
    tmp_path: Path,
) -> None:
    """RFC 7662 §2.2 (inactive once the key is gone) and the resource verifier after its
    refetch (RFC 8725 §3.10: only our JWKS names a key); other keys' tokens untouched."""
    figures = run_quick_drill("compromise", tmp_path)["figures"]
    assert figures["other tokens refused or inactive (any time)"] == 0
    assert figures["verifier: K2 refused from (after the commit), s"] is not None


def test_rotation_into_a_read_only_key_directory_fails_loudly_while_serving_goes_on(
    tmp_path: Path,
) -> None:
    """CONTRACT.md: a failing command exits 1 with one line on stderr; the server keeps
    signing with its current key."""
    figures = run_quick_drill("readonly", tmp_path)["figures"]
    assert figures["read-only: keys rotate exit status"] == 1
    assert figures["read-only: tokens signed while broken, keys used"].endswith(", 1")


@pytest.mark.postgresql
def test_rotating_keys_under_load_costs_caching_verifiers_nothing(tmp_path: Path) -> None:
    """SECURITY-CHECKLIST "Tests that must exist" 8: key rotation under load with caching
    verifiers → 0 failures (a `next` key is published before it signs, docs/keys.md)."""
    figures = run_quick_drill("rotation", tmp_path)["figures"]
    assert figures["verifications, refused"].endswith(", 0")
    assert figures["signing keys seen in tokens"] > figures["rotations"]
