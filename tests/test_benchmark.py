"""Smoke run of scripts/benchmark.py with a tiny N: it runs and counts right.

Never asserts a duration: the benchmark's figures are for people to read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SEEDED, SyncOutput, parse_messages, sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"
COUNT = 250
PAGE_SIZE = 100
EXPECTED_REQUESTS = 3  # ceil(250 / 100)


@dataclass(frozen=True)
class BenchmarkRun:
    """The benchmark's exit status, printed table and JSON results."""

    returncode: int
    table: str
    results: dict[str, t.Any]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkRun:
    work_dir = tmp_path_factory.mktemp("benchmark")
    results_path = work_dir / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--count",
            str(COUNT),
            "--latency-ms",
            "0",
            "--json",
            str(results_path),
            "--work-dir",
            str(work_dir),
            "--tap-setting",
            f"page_size={PAGE_SIZE}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return BenchmarkRun(
        completed.returncode,
        completed.stdout,
        json.loads(results_path.read_text()),
    )


def test_both_extractors_emit_every_record(benchmark: BenchmarkRun) -> None:
    (case,) = benchmark.results["cases"]
    assert case["baseline"]["records"] == COUNT
    assert case["tap"]["records"] == COUNT
    assert case["problems"] == []
    assert benchmark.results["ok"] is True


def test_requests_are_counted_by_the_sandbox_per_run(benchmark: BenchmarkRun) -> None:
    (case,) = benchmark.results["cases"]
    assert case["expected_tap_requests"] == EXPECTED_REQUESTS
    assert case["baseline"]["requests"] == EXPECTED_REQUESTS
    assert case["tap"]["requests"] == EXPECTED_REQUESTS


def test_figures_are_measured_for_the_extractor_process(
    benchmark: BenchmarkRun,
) -> None:
    (case,) = benchmark.results["cases"]
    for extractor in ("baseline", "tap"):
        figures = case[extractor]
        assert figures["exit_code"] == 0
        assert figures["wall_seconds"] > 0
        assert figures["cpu_seconds"] > 0
        assert figures["peak_rss_mb"] > 1
        # One SCHEMA, the records, at least one STATE.
        assert figures["lines"] > COUNT


def test_table_shows_each_figure_side_by_side(benchmark: BenchmarkRun) -> None:
    table = benchmark.table
    assert f"N={COUNT:,}, latency 0 ms" in table
    assert "tap/baseline" in table
    for figure in ("wall s", "CPU s", "records/s", "HTTP requests", "peak RSS MB"):
        assert figure in table
    assert "PASS  tap HTTP requests == ceil(N / page_size)" in table


def test_goals_needing_large_cases_are_not_judged(benchmark: BenchmarkRun) -> None:
    passed = {goal["name"]: goal["passed"] for goal in benchmark.results["goals"]}
    assert sum(value is None for value in passed.values()) == len(passed) - 1


def test_the_baseline_emits_what_the_tap_emits(sandbox: SandboxServer) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "baseline",
            "--api-url",
            sandbox.url,
            "--token",
            sandbox.token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    baseline = SyncOutput(parse_messages(completed.stdout))
    tap = sync(tap_config(sandbox, page_size=PAGE_SIZE))
    assert baseline.messages[0]["type"] == "SCHEMA"
    assert len(baseline.records) == SEEDED
    assert baseline.records == tap.records
