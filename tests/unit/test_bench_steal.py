"""CPU steal in bench/compare.py: read from /proc/stat, and shown in the report's rounds table.

bench/ is not a package: its modules import each other by bare name (bench/compare.py runs
as a script), so the directory goes on sys.path as it would for the script.
"""

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from compare_measure import CpuTicks, cpu_ticks, parse_cpu_ticks, steal_share  # noqa: E402
from compare_report import _round_rows, notes  # noqa: E402

# user nice system idle iowait irq softirq steal guest guest_nice: total 1000, steal 100
BEFORE = "cpu  400 0 100 300 50 0 50 100 0 0\ncpu0 200 0 50 150 25 0 25 50 0 0\nintr 1 2 3\n"
# 1000 ticks later, 250 of them stolen
AFTER = "cpu  800 0 200 550 50 0 50 350 0 0\ncpu0 400 0 100 275 25 0 25 175 0 0\nintr 4 5 6\n"


def test_parse_reads_steal_and_idle_and_sums_the_first_eight_fields() -> None:
    assert parse_cpu_ticks(BEFORE) == CpuTicks(steal=100, idle=350, total=1000)
    # guest and guest_nice are counted in user and nice already: not twice.
    guests = "cpu  400 0 100 300 50 0 50 100 70 30\n"
    assert parse_cpu_ticks(guests) == CpuTicks(steal=100, idle=350, total=1000)
    # An old kernel's line without steal: no steal, and still a total.
    assert parse_cpu_ticks("cpu  1 2 3 4\n") == CpuTicks(steal=0, idle=4, total=10)


def test_steal_share_between_two_readings_of_a_file(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(BEFORE)
    start = cpu_ticks(stat)
    stat.write_text(AFTER)
    end = cpu_ticks(stat)
    assert steal_share(start, end) == pytest.approx(0.25)


def test_no_proc_stat_means_no_steal(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-stat"
    assert cpu_ticks(missing) is None
    assert steal_share(cpu_ticks(missing), cpu_ticks(missing)) == 0.0
    assert steal_share(None, parse_cpu_ticks(AFTER)) == 0.0
    # No time between the readings: nothing to divide.
    assert steal_share(parse_cpu_ticks(BEFORE), parse_cpu_ticks(BEFORE)) == 0.0


def _round(number: int, **steal: Any) -> dict[str, Any]:
    return {
        "round": number,
        "order": ["peer", "ours"] if number % 2 else ["ours", "peer"],
        "quiet": {"load_average": 0.5, "waited_seconds": 42.0, "noisy": False},
        "openssl": {"sign_per_second": 1800.0, "verify_per_second": 61000.0},
        "measurements": {},
        "load_average_end": 4.25,
        **steal,
    }


def _result(rounds: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": config,
        "rounds": rounds,
        "our_database": "SQLite",
        "peer_store": "redis",
        "responses": {
            "jwks": {"ours": {"keys": 2, "bytes": 900}, "peer": {"keys": 1, "bytes": 450}},
            "token": {
                "ours": {"access_token_chars": 700},
                "peer": {"access_token_chars": 700},
            },
        },
        "server_log_problems": {"ours": [], "peer": []},
        "machine": {"authserver": "abc1234"},
    }


def _cells(line: str) -> list[str]:
    return line.split()


def test_rounds_table_and_notes_show_the_steal() -> None:
    result = _result(
        [
            _round(1, steal_share=0.0712, steal_noisy=True),
            _round(2, steal_share=0.0123, steal_noisy=False),
            _round(3, steal_share=0.25, steal_noisy=True),
        ],
        {"quiet_steal_percent": 5.0},
    )
    header, *rows = _round_rows(result)
    assert "steal %" in header
    assert header.index("steal %") < header.index("sign/s")
    # round, first, load "start / end" (3 words), waited "42 s" (2), noisy, steal %, ...
    assert [_cells(row)[8] for row in rows] == ["7.1", "1.2", "25.0"]
    assert _cells(rows[0])[7:] == ["no", "7.1", "1800", "61000"]
    assert "rounds with CPU steal above 5 %: 1, 3" in notes(result)


def test_older_json_without_steal_still_renders() -> None:
    result = _result([_round(1), _round(2)], {"seconds": 10})
    header, *rows = _round_rows(result)
    assert "steal %" in header
    assert [_cells(row)[7:] for row in rows] == [["no", "-", "1800", "61000"]] * 2
    assert not any("steal" in note for note in notes(result))


def test_the_threshold_in_the_note_is_the_runs_setting() -> None:
    result = _result([_round(1, steal_share=0.031, steal_noisy=True)], {"quiet_steal_percent": 2.5})
    assert "rounds with CPU steal above 2.5 %: 1" in notes(result)
