"""Smoke run of scripts/benchmark.py with a tiny N: it runs and counts right.

Never asserts a duration: the benchmark's figures are for people to read.
"""

from __future__ import annotations

import json
import re
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
RATE_LIMITED_COUNT = 1000  # 10 pages
RATE_LIMIT = 20
RATE_BURST = 5


@dataclass(frozen=True)
class BenchmarkRun:
    """The benchmark's exit status, printed table and JSON results."""

    returncode: int
    table: str
    results: dict[str, t.Any]


def run_benchmark(work_dir: Path, *arguments: str) -> BenchmarkRun:
    results_path = work_dir / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *arguments,
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


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkRun:
    work_dir = tmp_path_factory.mktemp("benchmark")
    return run_benchmark(work_dir, "--count", str(COUNT), "--latency-ms", "0")


@pytest.fixture(scope="module")
def rate_limited_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rate-limited-benchmark")


@pytest.fixture(scope="module")
def rate_limited(rate_limited_work_dir: Path) -> BenchmarkRun:
    return run_benchmark(
        rate_limited_work_dir,
        "--rate-limit-only",
        "--rate-limit",
        str(RATE_LIMIT),
        "--rate-burst",
        str(RATE_BURST),
        "--rate-count",
        str(RATE_LIMITED_COUNT),
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
    # Plus a read of a tie group split by a page edge, when the tap reads ahead.
    assert EXPECTED_REQUESTS <= case["tap"]["requests"] <= EXPECTED_REQUESTS + 1


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
    assert "PASS  tap HTTP requests == ceil(N / page_size), plus at most 3%" in table


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


def test_the_rate_limited_case_runs_the_tap_alone(rate_limited: BenchmarkRun) -> None:
    results = rate_limited.results
    case = results["rate_limited_case"]
    assert results["cases"] == []
    assert case["rate_limit"] == {
        "rate": RATE_LIMIT,
        "burst": RATE_BURST,
        "headers": False,
    }
    assert case["tap"]["records"] == RATE_LIMITED_COUNT
    assert case["tap"]["exit_code"] == 0
    assert case["problems"] == []
    assert results["ok"] is True


def test_the_rate_limited_ideal_is_pages_beyond_the_burst_over_the_rate(
    rate_limited: BenchmarkRun,
) -> None:
    case = rate_limited.results["rate_limited_case"]
    assert case["pages"] == 10
    assert case["ideal_wall_seconds"] == pytest.approx((10 - 5) / 20)
    assert case["wall_to_ideal"] == pytest.approx(
        case["tap"]["wall_seconds"] / case["ideal_wall_seconds"]
    )


def test_429_answers_are_counted_from_the_sandbox_log(
    rate_limited: BenchmarkRun, rate_limited_work_dir: Path
) -> None:
    (log,) = rate_limited_work_dir.glob("sandbox-*.requests.log")
    statuses = re.findall(r'" ([0-9]{3}) ', log.read_text())
    tap = rate_limited.results["rate_limited_case"]["tap"]
    assert tap["rate_limited"] == statuses.count("429")
    assert tap["requests"] == len(statuses)
    # Every refused request is asked again: the pages, plus one per 429.
    assert tap["requests"] == 10 + tap["rate_limited"]


def test_the_rate_limited_table_and_goal_are_printed(
    rate_limited: BenchmarkRun,
) -> None:
    table = rate_limited.table
    assert "N=1,000 (10 pages), rate limit 20/s, burst 5" in table
    for figure in ("wall s", "ideal wall s", "wall / ideal", "429 answers"):
        assert figure in table
    goal = re.search(
        r"^(PASS|FAIL)  rate-limited: tap wall <= 1.3x", table, re.MULTILINE
    )
    assert goal is not None


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkRun:
    work_dir = tmp_path_factory.mktemp("narrow-benchmark")
    return run_benchmark(
        work_dir, "--narrow", "--count", "5000", "--open-share", "0.05"
    )


def test_the_narrow_mode_counts_each_walk_against_the_full_scan(
    narrow: BenchmarkRun,
) -> None:
    (case,) = narrow.results["cases"]
    assert case["problems"] == []  # each sync emitted exactly what it must
    walks = case["narrow"]["requests"]
    assert walks["list pages"] >= 1
    assert walks["open pages"] == -(-case["open_count"] // PAGE_SIZE)
    assert walks["single reads"] >= 1
    # Every page of 5,000 and the new ones: 51, and a few more when a tie group
    # split by a page edge is read again around pages that came ahead of turn.
    full = case["full_scan"]["requests"]
    assert set(full) == {"list pages"}
    assert full["list pages"] >= 51
    assert case["ratio"] == sum(walks.values()) / full["list pages"]
    assert "| 5,000 | 5% (" in narrow.table
    assert "goal" not in narrow.results  # only when the default counts run
