"""Issue 15's bar, at its size: 200,000 enrollments, 5 % open, an hour of use.

The narrow sync takes at most a quarter of the full scan's requests (counted at
the sandbox) and emits every changed enrollment but the edits and deletions of
completed ones; the next sync with ``full_scan_every_hours: 0`` emits those
edits too, and counts them. Pages of 100, four requests at a time, as users run
it; each sync runs from the command line.

It runs ``scripts/benchmark.py --narrow`` for that one case, in a process of its
own (200,000 enrollments in memory would raise the peak of this test process,
which other tests measure for the processes they start), and reads its results:
per sync, the requests the sandbox answered by walk, what was emitted, and
whether each sync emitted exactly what the activity says it must.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

#: At full scale (about 30 s): with the end-to-end tests, not the fast suite.
pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"


def test_an_hour_at_200k_with_5_percent_open(tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--narrow",
            "--count",
            "200000",
            "--open-share",
            "0.05",
            "--json",
            str(results_path),
            "--work-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(results_path.read_text())
    case: dict[str, t.Any] = results["goal"]
    assert results["goal_met"]
    # Exactly what the hour changed, less the 10 edits of completed enrollments
    # (753 of 763); the full scan all 763; the walk of every page the 10 edits
    # (checked id by id in the benchmark: no problem reported).
    assert case["problems"] == []
    assert case["narrow"]["emitted"] == 753
    assert case["full_scan"]["emitted"] == 763
    narrow = sum(case["narrow"]["requests"].values())
    full = sum(case["full_scan"]["requests"].values())
    assert narrow <= 0.25 * full
    assert case["narrow"]["requests"]["single reads"] == 153  # completed, deleted
    summary = case["full_walk"]["summary"]
    assert "10 edits of completed enrollments a narrow walk would miss" in summary
