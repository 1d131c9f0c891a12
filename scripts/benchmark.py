"""Benchmark the tap against the fastest plain extractor loop, side by side.

For each case (N seeded enrollments x per-request latency) it starts the sandbox
API, then runs two extractors against it, each as a subprocess whose stdout is
counted (never stored) and whose stderr goes to a log file:

- the **baseline**: `baseline()` below, a plain loop with one `requests.Session`
  that reads `?page=P&limit=100` in order, decodes each page with `orjson` and
  writes one Singer RECORD line per enrollment with `orjson`, a page at a time;
- the **tap**: `tap-reviewrover --config cfg.json`.

It reports wall seconds, CPU seconds (user + sys of the extractor process alone),
records/s, HTTP requests served by the sandbox during the run, peak RSS, and the
ratio tap/baseline of each, then checks the goals. Durations are ratios measured
side by side, not absolute figures: the machine is noisy.

One more case runs the tap alone against a rate-limited sandbox (a token bucket:
by default N=5,000, 20 requests/s, burst 5, 0 ms): it reports the tap's wall
time against what the limit itself allows, (pages - burst) / rate, and how many
429 answers the sandbox sent during the run (counted from its request log).

Usage::

    .venv/bin/python scripts/benchmark.py       # N=100k, 1M x 0, 20 ms; rate-limited
    .venv/bin/python scripts/benchmark.py --count 100000 --latency-ms 20 \
        --tap-setting max_concurrent_requests=8 --repeat 3 --json bench.json
    .venv/bin/python scripts/benchmark.py --rate-limit-only --rate-limit 20 \
        --rate-burst 5 --rate-count 5000
    .venv/bin/python scripts/benchmark.py baseline --api-url URL --token T

`--tap-command` measures another copy of the tap, e.g. the last commit unpacked
with `git archive HEAD tap_reviewrover | tar -x -C /tmp/before`::

    .venv/bin/python scripts/benchmark.py --tap-command \
        "env PYTHONPATH=/tmp/before $PWD/.venv/bin/python -m tap_reviewrover"
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import math
import os
import re
import secrets
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import FrameType

DEFAULT_COUNTS = (100_000, 1_000_000)
DEFAULT_LATENCIES_MS = (0.0, 20.0)
DEFAULT_RATE_LIMITED_COUNT = 5_000
DEFAULT_RATE_LIMIT = 20.0
DEFAULT_RATE_BURST = 5
BASELINE_PAGE_SIZE = 100
DEFAULT_TAP_PAGE_SIZE = 100
READ_CHUNK_BYTES = 1 << 20
SANDBOX_START_TIMEOUT_SECONDS = 300.0
WARM_UP_CONNECTIONS = 16
#: The sandbox's --verbose log has one line per request it answered, such as
#: `127.0.0.1 - - [26/Nov/2025 05:44:00] "GET /api/v1/enrollments HTTP/1.1" 200 -`;
#: the group is the status.
REQUEST_LOG_LINE = re.compile(rb'\] "[A-Z]+ \S+ HTTP/[0-9.]+" ([0-9]{3}) ')
TOO_MANY_REQUESTS = b"429"
#: How a Singer RECORD message starts, with the SDK's compact writer or json.dumps.
RECORD_MARKERS = (b'"type":"RECORD"', b'"type": "RECORD"')
KIB_PER_MB = 1024
# The goals.
GOAL_SMALL_N = 100_000
GOAL_LARGE_N = 1_000_000
GOAL_COUNTS = (GOAL_SMALL_N, GOAL_LARGE_N)
GOAL_LATENCY_MS = 20.0
MAX_CPU_RATIO = 1.5
MAX_WALL_RATIO = 0.3
MAX_RSS_MB = 100.0
MAX_RSS_GROWTH_MB = 20.0
MAX_IDEAL_WALL_RATIO = 1.3
#: "At most a few" 429s: the tap's default 4 workers have up to 4 requests on
#: their way when the limit is first met, and learning the rate costs one more.
MAX_RATE_LIMITED_ANSWERS = 5

# --- The baseline extractor ---------------------------------------------------


def baseline(api_url: str, token: str) -> None:
    """Extract every enrollment with the fastest plain loop; Singer lines on stdout.

    One `requests.Session`, one request per page in order, `orjson` both ways,
    and a page's RECORD lines written at once to the binary stdout.

    Args:
        api_url: The API root, such as ``http://127.0.0.1:8080/api``.
        token: The bearer token.
    """
    import orjson  # noqa: PLC0415 - only this mode needs it
    import requests  # noqa: PLC0415 - only this mode needs it

    line = orjson.OPT_APPEND_NEWLINE
    out = sys.stdout.buffer
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "campaign_id": {"type": ["string", "null"]},
            "contact_id": {"type": ["string", "null"]},
            "enrolled_at": {"type": ["string", "null"], "format": "date-time"},
            "completed": {"type": ["boolean", "null"]},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    message = {
        "type": "SCHEMA",
        "stream": "enrollments",
        "schema": schema,
        "key_properties": ["id"],
    }
    out.write(orjson.dumps(message, option=line))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{api_url}/v1/enrollments"
    page = 1
    total_pages = 1
    while page <= total_pages:
        response = session.get(
            url, params={"page": page, "limit": BASELINE_PAGE_SIZE}, timeout=60
        )
        response.raise_for_status()
        body = orjson.loads(response.content)
        out.write(
            b"".join(
                orjson.dumps(
                    {"type": "RECORD", "stream": "enrollments", "record": enrollment},
                    option=line,
                )
                for enrollment in body["enrollments"]
            )
        )
        total_pages = body["pagination"]["total_pages"]
        page += 1
    out.write(orjson.dumps({"type": "STATE", "value": {}}, option=line))
    out.flush()


# --- Measuring one run ----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What one extractor run cost and emitted.

    Attributes:
        wall_seconds: From start to exit of the process.
        cpu_seconds: User plus system CPU of the process (and any it waited for).
        peak_rss_mb: Its peak resident set size, in MiB.
        requests: HTTP requests the sandbox answered during the run.
        records: RECORD messages it wrote.
        lines: Lines it wrote to stdout.
        exit_code: Its exit status.
        rate_limited: Of `requests`, how many the sandbox answered 429.
    """

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    requests: int
    records: int
    lines: int
    exit_code: int
    rate_limited: int = 0

    @property
    def records_per_second(self) -> float:
        """Records per wall second."""
        return self.records / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_microseconds_per_record(self) -> float:
        """CPU microseconds per record."""
        return self.cpu_seconds * 1e6 / self.records if self.records else math.nan


def median_run(runs: Sequence[Run]) -> Run:
    """The median of each figure over repeated runs.

    Counts and exit codes are taken from the worst run, so that a wrong count in
    any run shows.

    Args:
        runs: One or more runs of the same extractor and case.

    Returns:
        A run made of the medians.
    """
    return Run(
        wall_seconds=statistics.median(run.wall_seconds for run in runs),
        cpu_seconds=statistics.median(run.cpu_seconds for run in runs),
        peak_rss_mb=statistics.median(run.peak_rss_mb for run in runs),
        requests=max(run.requests for run in runs),
        records=min(run.records for run in runs),
        lines=min(run.lines for run in runs),
        exit_code=max(runs, key=lambda run: run.exit_code != 0).exit_code,
        rate_limited=max(run.rate_limited for run in runs),
    )


def count_messages(stream: IO[bytes]) -> tuple[int, int]:
    """Read a Singer stream to its end; count lines and RECORD messages.

    Reads in large chunks and keeps nothing but the unfinished last line.

    Args:
        stream: The extractor's stdout.

    Returns:
        The number of lines and of RECORD messages.
    """
    lines = records = 0
    unfinished = b""
    while chunk := stream.read(READ_CHUNK_BYTES):
        cut = chunk.rfind(b"\n") + 1
        if not cut:  # no line ends in this chunk
            unfinished += chunk
            continue
        block = unfinished + chunk[:cut]
        unfinished = chunk[cut:]
        lines += block.count(b"\n")
        records += sum(block.count(marker) for marker in RECORD_MARKERS)
    if unfinished:
        lines += 1
        records += sum(unfinished.count(marker) for marker in RECORD_MARKERS)
    return lines, records


@dataclass(frozen=True)
class RateLimit:
    """The sandbox's token bucket in the rate-limited case.

    Attributes:
        rate: Requests per second.
        burst: Requests allowed at once (the bucket starts full).
        headers: Whether the sandbox sends RateLimit-* headers.
    """

    rate: float
    burst: int
    headers: bool = False

    def sandbox_flags(self) -> list[str]:
        """The sandbox command's flags for this limit.

        Returns:
            The flags.
        """
        flags = ["--rate-limit", f"{self.rate:g}", "--rate-burst", str(self.burst)]
        return [*flags, "--rate-limit-headers"] if self.headers else flags

    def ideal_seconds(self, pages: int) -> float:
        """The least wall time the limit allows for `pages` requests.

        The first `burst` requests go at once, then one every 1/rate seconds.

        Args:
            pages: Requests needed.

        Returns:
            (pages - burst) / rate, or 0 when the burst covers every page.
        """
        return max(pages - self.burst, 0) / self.rate


class Sandbox:
    """The sandbox API in a subprocess, logging each request it answers."""

    def __init__(
        self,
        count: int,
        latency_ms: float,
        work_dir: Path,
        rate_limit: RateLimit | None = None,
    ) -> None:
        """Describe a sandbox; `start()` runs it.

        Args:
            count: Enrollments to seed.
            latency_ms: Delay the sandbox adds to every request.
            work_dir: Where its ready file and logs go.
            rate_limit: A token bucket in front of the list; None for none.
        """
        self.count = count
        self.latency_ms = latency_ms
        self.rate_limit = rate_limit
        self.token = "bench-" + secrets.token_hex(8)
        name = f"sandbox-n{count}-{latency_ms:g}ms"
        if rate_limit is not None:
            name += f"-{rate_limit.rate:g}rps-burst{rate_limit.burst}"
        self.ready_file = work_dir / f"{name}.url"
        self.request_log = work_dir / f"{name}.requests.log"
        self.output_log = work_dir / f"{name}.out"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the sandbox and wait until it serves.

        Raises:
            RuntimeError: If it exits or does not get ready in time.
        """
        self.ready_file.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "reviewrover_sandbox",
            "--count",
            str(self.count),
            "--latency-ms",
            str(self.latency_ms),
            "--token",
            self.token,
            "--ready-file",
            str(self.ready_file),
            "--verbose",  # one stderr line per request: how requests are counted
        ]
        if self.rate_limit is not None:
            command += self.rate_limit.sandbox_flags()
        with self.output_log.open("wb") as out, self.request_log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own command line
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                cwd=self.ready_file.parent,
            )
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                status = self._process.returncode
                msg = f"the sandbox exited with {status}; see {self.request_log}"
                raise RuntimeError(msg)
            if self.ready_file.exists():
                text = self.ready_file.read_text()
                if text.endswith("\n"):
                    self.url = text.strip()
                    return
            time.sleep(0.05)
        msg = f"the sandbox was not ready after {SANDBOX_START_TIMEOUT_SECONDS:g} s"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the sandbox (SIGTERM, then SIGKILL if it lingers)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def answers(self) -> Counter[bytes]:
        """How many requests the sandbox has answered since it started, by status.

        The sandbox logs a request when it sends the status line, before the
        body, so a client that has read its response has been counted.

        Returns:
            The number of request lines in its log per status, e.g. `b"429"`.
        """
        return Counter(REQUEST_LOG_LINE.findall(self.request_log.read_bytes()))

    def warm_up(self, page_size: int) -> None:
        """Request every page once, unmeasured, so that neither run pays for it.

        The sandbox renders each record's JSON the first time it serves it: without
        this the first extractor of a case would pay the sandbox's rendering (on a
        machine with few cores the two compete for CPU).

        Args:
            page_size: The page size whose pages to request.
        """
        from http.client import HTTPConnection  # noqa: PLC0415

        parts = urlsplit(self.url)
        pages = -(-self.count // page_size) or 1
        next_page = iter(range(1, pages + 1))
        lock = threading.Lock()
        errors: list[str] = []

        def fetch_pages() -> None:
            connection = HTTPConnection(parts.hostname or "", parts.port, timeout=60)
            headers = {"Authorization": f"Bearer {self.token}"}
            try:
                while True:
                    with lock:
                        page = next(next_page, None)
                    if page is None:
                        return
                    path = f"{parts.path}/v1/enrollments?page={page}&limit={page_size}"
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:  # noqa: PLR2004 - HTTP OK
                        errors.append(f"page {page}: HTTP {response.status}")
                        return
            finally:
                connection.close()

        threads = [
            threading.Thread(target=fetch_pages) for _ in range(WARM_UP_CONNECTIONS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            msg = f"warming up the sandbox failed: {errors[0]}"
            raise RuntimeError(msg)


@contextlib.contextmanager
def running_sandbox(
    count: int,
    latency_ms: float,
    work_dir: Path,
    rate_limit: RateLimit | None = None,
) -> Iterator[Sandbox]:
    """Run a sandbox for the duration of a `with` block.

    Args:
        count: Enrollments to seed.
        latency_ms: Delay added to every request.
        work_dir: Where its files go.
        rate_limit: A token bucket in front of the list; None for none.

    Yields:
        The started sandbox.
    """
    sandbox = Sandbox(count, latency_ms, work_dir, rate_limit)
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.stop()


def measure(command: Sequence[str], sandbox: Sandbox, log_path: Path) -> Run:
    """Run one extractor to its end and measure it.

    It runs in the log's directory: from the repository, `python -m` would import
    the checkout even when `--tap-command` sets PYTHONPATH to another copy.

    Args:
        command: The extractor's command line.
        sandbox: The sandbox it reads from.
        log_path: Where its stderr goes.

    Returns:
        The run's figures.
    """
    answers_before = sandbox.answers()
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=log_path.parent,
        )
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        lines, records = count_messages(process.stdout)
        # wait4 gives this child's own resource usage, not the sandbox's.
        _, status, usage = os.wait4(process.pid, 0)
        wall_seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    answers = sandbox.answers() - answers_before
    return Run(
        wall_seconds=wall_seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / KIB_PER_MB,  # KiB on Linux
        requests=answers.total(),
        records=records,
        lines=lines,
        exit_code=process.returncode,
        rate_limited=answers[TOO_MANY_REQUESTS],
    )


# --- Cases, tables and goals --------------------------------------------------------


@dataclass
class Case:
    """One N x latency case and its runs.

    Attributes:
        count: Enrollments seeded.
        latency_ms: Per-request latency.
        tap_page_size: The tap's page size.
        baseline_runs: Every baseline run.
        tap_runs: Every tap run.
    """

    count: int
    latency_ms: float
    tap_page_size: int
    baseline_runs: list[Run] = field(default_factory=list)
    tap_runs: list[Run] = field(default_factory=list)

    @property
    def baseline(self) -> Run:
        """The baseline's median figures."""
        return median_run(self.baseline_runs)

    @property
    def tap(self) -> Run:
        """The tap's median figures."""
        return median_run(self.tap_runs)

    def problems(self) -> list[str]:
        """What went wrong in any run: a failed exit, a wrong record count.

        Returns:
            One line per problem; empty when every run is sound.
        """
        where = f"N={self.count:,}, {self.latency_ms:g} ms"
        return [
            *_run_problems("baseline", self.baseline_runs, where, self.count),
            *_run_problems("tap", self.tap_runs, where, self.count),
        ]

    def as_json(self) -> dict[str, Any]:
        """The case as a JSON-ready dict, with derived figures.

        Returns:
            Median figures per extractor, every run, and the expected requests.
        """

        def figures(run: Run) -> dict[str, Any]:
            return {
                **asdict(run),
                "records_per_second": run.records_per_second,
                "cpu_microseconds_per_record": run.cpu_microseconds_per_record,
            }

        return {
            "count": self.count,
            "latency_ms": self.latency_ms,
            "expected_tap_requests": expected_requests(self.count, self.tap_page_size),
            "expected_baseline_requests": expected_requests(
                self.count, BASELINE_PAGE_SIZE
            ),
            "baseline": figures(self.baseline),
            "tap": figures(self.tap),
            "runs": {
                "baseline": [asdict(run) for run in self.baseline_runs],
                "tap": [asdict(run) for run in self.tap_runs],
            },
            "problems": self.problems(),
        }


def expected_requests(count: int, page_size: int) -> int:
    """Requests needed to read every page once: ceil(N / page size), at least 1.

    Args:
        count: Enrollments.
        page_size: Records per page.

    Returns:
        The number of list requests.
    """
    return max(-(-count // page_size), 1)


@dataclass
class RateLimitedCase:
    """The tap alone against a rate-limited sandbox, and its runs.

    Attributes:
        count: Enrollments seeded.
        rate_limit: The sandbox's token bucket.
        tap_page_size: The tap's page size.
        tap_runs: Every tap run.
    """

    count: int
    rate_limit: RateLimit
    tap_page_size: int
    tap_runs: list[Run] = field(default_factory=list)

    @property
    def pages(self) -> int:
        """The list requests a sync needs when none is refused."""
        return expected_requests(self.count, self.tap_page_size)

    @property
    def ideal_seconds(self) -> float:
        """The least wall time the limit allows for the pages."""
        return self.rate_limit.ideal_seconds(self.pages)

    @property
    def tap(self) -> Run:
        """The tap's median figures."""
        return median_run(self.tap_runs)

    def ideal_ratio(self) -> float | None:
        """The tap's median wall time over the ideal; None when the ideal is 0."""
        if not self.ideal_seconds:
            return None
        return self.tap.wall_seconds / self.ideal_seconds

    def problems(self) -> list[str]:
        """What went wrong in any run: a failed exit, a wrong record count.

        Returns:
            One line per problem; empty when every run is sound.
        """
        where = f"N={self.count:,}, {self.rate_limit.rate:g} requests/s"
        return _run_problems("tap", self.tap_runs, where, self.count)

    def as_json(self) -> dict[str, Any]:
        """The case as a JSON-ready dict, with derived figures.

        Returns:
            The limit, the ideal, the tap's median figures and every run.
        """
        return {
            "count": self.count,
            "rate_limit": asdict(self.rate_limit),
            "pages": self.pages,
            "ideal_wall_seconds": self.ideal_seconds,
            "wall_to_ideal": self.ideal_ratio(),
            "tap": asdict(self.tap),
            "runs": {"tap": [asdict(run) for run in self.tap_runs]},
            "problems": self.problems(),
        }


def _run_problems(name: str, runs: Sequence[Run], where: str, count: int) -> list[str]:
    found = []
    for number, run in enumerate(runs, start=1):
        run_name = f"{name} run {number} ({where})"
        if run.exit_code != 0:
            found.append(f"{run_name} exited with {run.exit_code}")
        if run.records != count:
            found.append(f"{run_name} emitted {run.records:,} records, not {count:,}")
    return found


def _ratio(tap: float, baseline: float) -> str:
    return f"{tap / baseline:.2f}x" if baseline else "-"


def case_table(case: Case) -> str:
    """Render a case as a table: baseline, tap, tap/baseline per figure.

    Args:
        case: A measured case.

    Returns:
        The table's text.
    """
    base, tap = case.baseline, case.tap
    repeats = len(case.tap_runs)
    rows = [
        ("wall s", f"{base.wall_seconds:.2f}", f"{tap.wall_seconds:.2f}"),
        ("CPU s", f"{base.cpu_seconds:.2f}", f"{tap.cpu_seconds:.2f}"),
        (
            "CPU us/record",
            f"{base.cpu_microseconds_per_record:.1f}",
            f"{tap.cpu_microseconds_per_record:.1f}",
        ),
        (
            "records/s",
            f"{base.records_per_second:,.0f}",
            f"{tap.records_per_second:,.0f}",
        ),
        ("HTTP requests", f"{base.requests:,}", f"{tap.requests:,}"),
        ("peak RSS MB", f"{base.peak_rss_mb:.1f}", f"{tap.peak_rss_mb:.1f}"),
        ("records", f"{base.records:,}", f"{tap.records:,}"),
    ]
    ratios = [
        _ratio(tap.wall_seconds, base.wall_seconds),
        _ratio(tap.cpu_seconds, base.cpu_seconds),
        _ratio(tap.cpu_microseconds_per_record, base.cpu_microseconds_per_record),
        _ratio(tap.records_per_second, base.records_per_second),
        _ratio(tap.requests, base.requests),
        _ratio(tap.peak_rss_mb, base.peak_rss_mb),
        _ratio(tap.records, base.records),
    ]
    runs = "1 run" if repeats == 1 else f"median of {repeats} runs"
    lines = [
        f"N={case.count:,}, latency {case.latency_ms:g} ms ({runs})",
        f"{'figure':<15}{'baseline':>12}{'tap':>12}{'tap/baseline':>14}",
    ]
    lines += [
        f"{name:<15}{left:>12}{right:>12}{ratio:>14}"
        for (name, left, right), ratio in zip(rows, ratios, strict=True)
    ]
    lines += [f"!!! {problem}" for problem in case.problems()]
    return "\n".join(lines)


def rate_limited_case_table(case: RateLimitedCase) -> str:
    """Render the rate-limited case: the tap's figures against the ideal.

    Args:
        case: The measured case.

    Returns:
        The table's text.
    """
    tap, limit = case.tap, case.rate_limit
    ratio = case.ideal_ratio()
    repeats = len(case.tap_runs)
    runs = "1 run" if repeats == 1 else f"median of {repeats} runs"
    headers = ", RateLimit headers" if limit.headers else ""
    rows = [
        ("wall s", f"{tap.wall_seconds:.2f}"),
        ("ideal wall s", f"{case.ideal_seconds:.2f}"),
        ("wall / ideal", "-" if ratio is None else f"{ratio:.2f}x"),
        ("HTTP requests", f"{tap.requests:,}"),
        ("429 answers", f"{tap.rate_limited:,}"),
        ("CPU s", f"{tap.cpu_seconds:.2f}"),
        ("peak RSS MB", f"{tap.peak_rss_mb:.1f}"),
        ("records", f"{tap.records:,}"),
    ]
    title = (
        f"N={case.count:,} ({case.pages:,} pages), rate limit {limit.rate:g}/s, "
        f"burst {limit.burst}{headers}, latency 0 ms, tap only ({runs})"
    )
    lines = [title, f"{'figure':<15}{'tap':>12}"]
    lines += [f"{name:<15}{value:>12}" for name, value in rows]
    lines += [f"!!! {problem}" for problem in case.problems()]
    return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    """One goal and how this run fared.

    Attributes:
        name: What is measured.
        passed: True or False; None when the cases it needs were not run.
        detail: The measured figure against the goal.
    """

    name: str
    passed: bool | None
    detail: str


def _find(cases: Sequence[Case], count: int, latency_ms: float) -> Case | None:
    return next(
        (c for c in cases if c.count == count and c.latency_ms == latency_ms), None
    )


def evaluate_goals(
    cases: Sequence[Case], rate_limited: RateLimitedCase | None = None
) -> list[Goal]:
    """Check the goals against the measured cases.

    Args:
        cases: The measured baseline-and-tap cases.
        rate_limited: The measured rate-limited case, if it ran.

    Returns:
        One result per goal.
    """
    goals = [_cpu_goal(cases, count) for count in GOAL_COUNTS]
    goals += [_wall_goal(cases, count) for count in GOAL_COUNTS]
    goals += _memory_goals(cases)
    wrong = [
        f"N={c.count:,}/{c.latency_ms:g} ms: {run.requests:,}"
        for c in cases
        for run in c.tap_runs
        if not 0
        <= run.requests - expected_requests(c.count, c.tap_page_size)
        <= tie_read_allowance(expected_requests(c.count, c.tap_page_size))
    ]
    name = (
        "tap HTTP requests == ceil(N / page_size), plus at most 3% (reads of "
        "same-second records a page edge splits), in every run"
    )
    goals.append(Goal(name, not wrong, "; ".join(wrong) if wrong else "all runs met"))
    goals.append(_rate_limited_goal(rate_limited))
    return goals


def tie_read_allowance(pages: int) -> int:
    """Extra requests the tap may make for ties split by page edges.

    Reading ahead (responses slower than 5 ms), the tap reads whole, in one more
    request, each group of records created in the same second that a page edge
    splits: the API may order them differently on every request. The sandbox's
    data has about 5% of its records in such groups: about 2 extra requests per
    100 pages.

    Args:
        pages: ``ceil(N / page_size)``.

    Returns:
        The most extra requests accepted.
    """
    return max(1, pages * 3 // 100)


def _cpu_goal(cases: Sequence[Case], count: int) -> Goal:
    name = f"CPU per record, 0 ms, N={count:,}: tap <= {MAX_CPU_RATIO:g}x baseline"
    case = _find(cases, count, 0.0)
    if case is None:
        return Goal(name, None, "case not run")
    ratio = case.tap.cpu_microseconds_per_record
    ratio /= case.baseline.cpu_microseconds_per_record
    return Goal(name, ratio <= MAX_CPU_RATIO, f"{ratio:.2f}x")


def _wall_goal(cases: Sequence[Case], count: int) -> Goal:
    name = (
        f"wall time, {GOAL_LATENCY_MS:g} ms, N={count:,}: "
        f"tap <= {MAX_WALL_RATIO:g}x baseline"
    )
    case = _find(cases, count, GOAL_LATENCY_MS)
    if case is None:
        return Goal(name, None, "case not run")
    ratio = case.tap.wall_seconds / case.baseline.wall_seconds
    return Goal(name, ratio <= MAX_WALL_RATIO, f"{ratio:.2f}x")


def _memory_goals(cases: Sequence[Case]) -> list[Goal]:
    # The worst tap run over the latencies measured, at each N.
    small = [c.tap.peak_rss_mb for c in cases if c.count == GOAL_SMALL_N]
    large = [c.tap.peak_rss_mb for c in cases if c.count == GOAL_LARGE_N]
    name = f"tap peak RSS at N={GOAL_SMALL_N:,} <= {MAX_RSS_MB:g} MB"
    if not small:
        peak = Goal(name, None, "case not run")
    else:
        peak = Goal(name, max(small) <= MAX_RSS_MB, f"{max(small):.1f} MB")
    name = (
        f"tap peak RSS at N={GOAL_LARGE_N:,} <= RSS at N={GOAL_SMALL_N:,} "
        f"+ {MAX_RSS_GROWTH_MB:g} MB"
    )
    if not small or not large:
        return [peak, Goal(name, None, "needs both N")]
    growth = max(large) - max(small)
    return [peak, Goal(name, growth <= MAX_RSS_GROWTH_MB, f"{growth:+.1f} MB")]


def _rate_limited_goal(case: RateLimitedCase | None) -> Goal:
    name = (
        f"rate-limited: tap wall <= {MAX_IDEAL_WALL_RATIO:g}x (pages - burst) / rate, "
        f"<= {MAX_RATE_LIMITED_ANSWERS} 429 answers"
    )
    if case is None:
        return Goal(name, None, "case not run")
    ratio = case.ideal_ratio()
    throttled = case.tap.rate_limited
    detail = (
        f"N={case.count:,} at {case.rate_limit.rate:g}/s burst {case.rate_limit.burst}"
        f": {case.tap.wall_seconds:.2f} s"
    )
    if ratio is None:
        return Goal(name, None, f"{detail}; the burst covers every page")
    detail += f" = {ratio:.2f}x ideal {case.ideal_seconds:.2f} s, {throttled:,} 429s"
    passed = ratio <= MAX_IDEAL_WALL_RATIO and throttled <= MAX_RATE_LIMITED_ANSWERS
    return Goal(name, passed, detail)


def goals_table(goals: Sequence[Goal]) -> str:
    """Render the goals as PASS/FAIL lines.

    Args:
        goals: Evaluated goals.

    Returns:
        The text.
    """
    marks = {True: "PASS", False: "FAIL", None: "n/a "}
    lines = ["Goals"]
    lines += [f"{marks[goal.passed]}  {goal.name}: {goal.detail}" for goal in goals]
    return "\n".join(lines)


# --- Command line ----------------------------------------------------------------


def _setting(text: str) -> tuple[str, Any]:
    """Parse KEY=VALUE; VALUE is read as JSON when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"expected KEY=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark tap-reviewrover against the fastest plain extractor loop, "
            "and alone against a rate-limited sandbox. "
            "`benchmark.py baseline --api-url URL --token T` runs the baseline alone."
        ),
    )
    parser.add_argument(
        "--count",
        type=int,
        action="append",
        metavar="N",
        help="enrollments to seed; repeat for several (default: 100000 and 1000000)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        action="append",
        metavar="MS",
        help="per-request latency; repeat for several (default: 0 and 20)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help=(
            "run the rate-limited case with the sandbox limited to RPS list "
            "requests/s (the default run has it at "
            f"{DEFAULT_RATE_LIMIT:g}; 0 skips it)"
        ),
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=DEFAULT_RATE_BURST,
        metavar="N",
        help="requests the rate limit lets through at once (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-count",
        type=int,
        default=DEFAULT_RATE_LIMITED_COUNT,
        metavar="N",
        help="enrollments in the rate-limited case (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit-headers",
        action="store_true",
        help="the rate-limited sandbox sends RateLimit-* headers",
    )
    parser.add_argument(
        "--rate-limit-only",
        action="store_true",
        help="run the rate-limited case alone",
    )
    parser.add_argument(
        "--narrow",
        action="store_true",
        help=(
            "measure incremental_strategy open_enrollments instead: requests per "
            "hourly sync against the full scan, for each --count (default: "
            "100000 and 1000000) and --open-share (default: 0.05, 0.2, 0.55), "
            "and, without --count, the issue's goal case (200000, 5 %% open)"
        ),
    )
    parser.add_argument(
        "--open-share",
        type=float,
        action="append",
        metavar="SHARE",
        help="with --narrow: share of open enrollments, 0 to 1; repeat for several",
    )
    parser.add_argument(
        "--tap-setting",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra tap setting (VALUE as JSON if it parses), e.g. page_size=100",
    )
    parser.add_argument(
        "--tap-command",
        help=(
            "the tap's command line, without --config, run from the work dir "
            "(so give absolute paths; default: the "
            "tap-reviewrover next to this Python)"
        ),
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per extractor; medians reported"
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the results as JSON"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where configs and logs go (default: a new temporary directory)",
    )
    return parser


def _tap_command(option: str | None) -> list[str]:
    if option:
        return shlex.split(option)
    # Measure the tap as installed: pip and uv compile its modules to bytecode at
    # install time, as they did the baseline's libraries. An editable checkout
    # under PYTHONDONTWRITEBYTECODE would compile them again on every start.
    import tap_reviewrover  # noqa: PLC0415 - only this mode needs it

    compileall.compile_dir(Path(tap_reviewrover.__file__).parent, quiet=1)
    script = Path(sys.executable).with_name("tap-reviewrover")
    return (
        [str(script)] if script.exists() else [sys.executable, "-m", "tap_reviewrover"]
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    sys.exit(128 + signum)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_case(
    case: Case,
    *,
    repeat: int,
    tap_command: Sequence[str],
    tap_settings: dict[str, Any],
    work_dir: Path,
) -> None:
    """Measure the baseline and the tap, alternately, against one sandbox.

    Args:
        case: The case to fill with runs.
        repeat: Runs per extractor.
        tap_command: The tap's command line, without ``--config``.
        tap_settings: Extra settings for the tap's config.
        work_dir: Where configs and logs go.
    """
    label = f"n{case.count}-{case.latency_ms:g}ms"
    _progress(f"N={case.count:,}, {case.latency_ms:g} ms: starting the sandbox")
    with running_sandbox(case.count, case.latency_ms, work_dir) as sandbox:
        sandbox.warm_up(case.tap_page_size)
        if case.tap_page_size != BASELINE_PAGE_SIZE:
            sandbox.warm_up(BASELINE_PAGE_SIZE)
        config = {"api_url": sandbox.url, "auth_token": sandbox.token, **tap_settings}
        config_path = work_dir / f"tap-config-{label}.json"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        baseline_command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "baseline",
            "--api-url",
            sandbox.url,
            "--token",
            sandbox.token,
        ]
        for number in range(1, repeat + 1):
            for name, command, runs in (
                ("baseline", baseline_command, case.baseline_runs),
                ("tap", [*tap_command, "--config", str(config_path)], case.tap_runs),
            ):
                log_path = work_dir / f"{name}-{label}-run{number}.log"
                run = measure(command, sandbox, log_path)
                runs.append(run)
                _progress(
                    f"  {name} run {number}: {run.wall_seconds:.2f} s wall, "
                    f"{run.cpu_seconds:.2f} s CPU, {run.peak_rss_mb:.1f} MB peak RSS, "
                    f"{run.records:,} records, {run.requests:,} requests "
                    f"(log: {log_path})"
                )


def run_rate_limited_case(
    case: RateLimitedCase,
    *,
    repeat: int,
    tap_command: Sequence[str],
    tap_settings: dict[str, Any],
    work_dir: Path,
) -> None:
    """Measure the tap alone against a rate-limited sandbox.

    No warm-up: it would spend the bucket's tokens, and a few thousand records
    render in milliseconds.

    Args:
        case: The case to fill with runs.
        repeat: Runs of the tap.
        tap_command: The tap's command line, without ``--config``.
        tap_settings: Extra settings for the tap's config.
        work_dir: Where configs and logs go.
    """
    limit = case.rate_limit
    label = f"n{case.count}-{limit.rate:g}rps-burst{limit.burst}"
    _progress(
        f"N={case.count:,}, rate limit {limit.rate:g}/s burst {limit.burst}: "
        "starting the sandbox"
    )
    with running_sandbox(case.count, 0.0, work_dir, limit) as sandbox:
        config = {"api_url": sandbox.url, "auth_token": sandbox.token, **tap_settings}
        config_path = work_dir / f"tap-config-{label}.json"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        for number in range(1, repeat + 1):
            log_path = work_dir / f"tap-{label}-run{number}.log"
            run = measure(
                [*tap_command, "--config", str(config_path)], sandbox, log_path
            )
            case.tap_runs.append(run)
            _progress(
                f"  tap run {number}: {run.wall_seconds:.2f} s wall "
                f"(ideal {case.ideal_seconds:.2f} s), {run.requests:,} requests, "
                f"{run.rate_limited:,} answered 429, {run.records:,} records "
                f"(log: {log_path})"
            )


def _selected_cases(
    args: argparse.Namespace, page_size: int
) -> tuple[list[Case], RateLimitedCase | None]:
    """The cases the command line asks for.

    The rate-limited case runs in the default run (no --count, no --latency-ms),
    or when --rate-limit (above 0) or --rate-limit-only is given.
    """
    cases = [
        Case(count, latency, page_size)
        for count in args.count or DEFAULT_COUNTS
        for latency in args.latency_ms or DEFAULT_LATENCIES_MS
    ]
    if args.rate_limit_only:
        cases = []
    default_run = args.count is None and args.latency_ms is None
    rate = DEFAULT_RATE_LIMIT if args.rate_limit is None else args.rate_limit
    wanted = args.rate_limit_only or args.rate_limit is not None or default_run
    if not wanted or rate <= 0:
        return cases, None
    limit = RateLimit(rate, args.rate_burst, headers=args.rate_limit_headers)
    return cases, RateLimitedCase(args.rate_count, limit, page_size)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, or with ``baseline`` as first argument, the baseline.

    Args:
        argv: Command-line arguments; ``sys.argv[1:]`` by default.

    Returns:
        0, or 1 when a run failed or emitted a wrong number of records (failed
        goals alone do not change the exit status).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["baseline"]:
        baseline_parser = argparse.ArgumentParser(prog="benchmark.py baseline")
        baseline_parser.add_argument("--api-url", required=True)
        baseline_parser.add_argument("--token", required=True)
        baseline_args = baseline_parser.parse_args(argv[1:])
        baseline(baseline_args.api_url.rstrip("/"), baseline_args.token)
        return 0

    args = _parser().parse_args(argv)
    tap_settings = dict(args.tap_setting)
    page_size = int(tap_settings.get("page_size", DEFAULT_TAP_PAGE_SIZE))
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="reviewrover-bench-"))
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    # On SIGTERM, unwind so that the sandbox of the current case is stopped too.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    tap_command = _tap_command(args.tap_command)
    _progress(f"Logs and configs in {work_dir}; tap: {shlex.join(tap_command)}")
    if args.narrow:
        return _narrow(args, tap_command, work_dir)
    cases, rate_limited = _selected_cases(args, page_size)
    repeat = max(args.repeat, 1)
    for case in cases:
        run_case(
            case,
            repeat=repeat,
            tap_command=tap_command,
            tap_settings=tap_settings,
            work_dir=work_dir,
        )
    if rate_limited is not None:
        run_rate_limited_case(
            rate_limited,
            repeat=repeat,
            tap_command=tap_command,
            tap_settings=tap_settings,
            work_dir=work_dir,
        )
    goals = evaluate_goals(cases, rate_limited)
    settings = ", ".join(f"{key}={value!r}" for key, value in tap_settings.items())
    print(f"tap: {shlex.join(tap_command)}; extra settings: {settings or 'none'}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for case in cases:
        print()
        print(case_table(case))
    if rate_limited is not None:
        print()
        print(rate_limited_case_table(rate_limited))
    print()
    print(goals_table(goals))
    problems = [problem for case in cases for problem in case.problems()]
    if rate_limited is not None:
        problems += rate_limited.problems()
    if problems:
        print()
        print("RUNS FAILED OR EMITTED THE WRONG NUMBER OF RECORDS:")
        print("\n".join(f"  {problem}" for problem in problems))
    if args.json:
        results = {
            "tap_command": tap_command,
            "tap_settings": tap_settings,
            "cpus": os.cpu_count(),
            "cases": [case.as_json() for case in cases],
            "rate_limited_case": rate_limited and rate_limited.as_json(),
            "goals": [asdict(goal) for goal in goals],
            "ok": not problems,
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if problems else 0


def _narrow(args: argparse.Namespace, tap_command: list[str], work_dir: Path) -> int:
    """The --narrow mode (see scripts/benchmark_narrow.py)."""
    import benchmark_narrow  # noqa: PLC0415 - beside this script; only this mode

    text, results, sound = benchmark_narrow.main(
        args.count or benchmark_narrow.DEFAULT_COUNTS,
        args.open_share or benchmark_narrow.DEFAULT_OPEN_SHARES,
        tap_command,
        work_dir,
        settings=dict(args.tap_setting),
        with_goal=args.count is None,  # the default run checks the goal
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
