"""Every wait capped and named, and what was read written out before it begins.

The waits never pass in real time: the retry waits are recorded
(``tap_reviewrover.requester.wait_before_retry``) and the pacer's holds run on a
virtual clock (``tap_reviewrover.pacing.time``). Each injected wait looks, at the
moment it begins, at what reached the tap's stdout and at what was logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import subprocess
import sys
import threading
import typing as t
from dataclasses import dataclass, field

import pytest
from reviewrover_sandbox import Clock, Fault

from tap_reviewrover import pacing, requester
from tap_reviewrover.errors import BadResponseError, WaitTooLongError
from tap_reviewrover.tap import TapReviewRover
from tap_reviewrover.waits import MAX_WAIT_SECONDS
from tests.conftest import (
    _CLI_OUTPUT,
    TOKEN,
    SyncOutput,
    clean_env,
    logged_at,
    parse_messages,
    run_cli,
    sync,
    tap_command,
    tap_config,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: The tap's peak memory allowed while it refuses a 2 GiB gzip bomb.
BOMB_PEAK_RSS_MB = 200
#: Runs a command, then writes its peak memory (KiB) to the file named first.
PEAK_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Snapshot:
    """What the tap had written and logged when a wait began.

    Attributes:
        seconds: The wait (for the pacer: the first step of it).
        stdout: The bytes on the tap's stdout by then.
        warnings: The WARNING lines logged by then.
    """

    seconds: float
    stdout: bytes
    warnings: list[str]

    @property
    def records(self) -> list[dict[str, t.Any]]:
        """The RECORD messages on stdout, which must be whole lines."""
        assert self.stdout.endswith(b"\n"), "a line was cut at the wait"
        messages = parse_messages(self.stdout.decode())
        return [m["record"] for m in messages if m["type"] == "RECORD"]


@dataclass
class LiveSync:
    """An in-process sync whose stdout a wait can look at while it runs."""

    caplog: pytest.LogCaptureFixture
    stdout: io.BytesIO = field(default_factory=io.BytesIO)

    def snapshot(self, seconds: float) -> Snapshot:
        """What was written and logged so far."""
        warnings = [
            r.getMessage() for r in self.caplog.records if r.levelno == logging.WARNING
        ]
        return Snapshot(seconds, self.stdout.getvalue(), warnings)

    def run(self, config: dict[str, t.Any]) -> tuple[SyncOutput, Exception | None]:
        """Sync, writing to this object's stdout; return the output and error."""
        tap = TapReviewRover(config=config, parse_env_config=False)
        text = io.TextIOWrapper(self.stdout, encoding="utf-8", write_through=True)
        error: Exception | None = None
        try:
            with contextlib.redirect_stdout(text):
                tap.sync_all()
        except Exception as caught:  # noqa: BLE001 - the test checks which
            error = caught
        return SyncOutput(parse_messages(self.stdout.getvalue().decode())), error


class WatchedTime:
    """The pacer's clock: it moves only when the pacer sleeps.

    The first sleep snapshots the sync. Every sleep moves it, whichever worker
    sleeps: its ``slept`` is a wait's length only when one worker waits.
    """

    def __init__(self, live: LiveSync) -> None:
        """Start at an arbitrary moment, with nothing slept."""
        self.slept = 0.0
        self.first: Snapshot | None = None
        self._live = live
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """The time now: every sleep so far."""
        with self._lock:
            return 1000.0 + self.slept

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once; the first time, look at the sync."""
        with self._lock:
            if self.first is None:
                self.first = self._live.snapshot(seconds)
            self.slept += max(0.0, seconds)


@pytest.fixture
def live(caplog: pytest.LogCaptureFixture) -> LiveSync:
    """A sync whose stdout the waits can look at."""
    caplog.set_level(logging.INFO)
    return LiveSync(caplog)


@pytest.fixture
def retry_waits(monkeypatch: pytest.MonkeyPatch, live: LiveSync) -> list[Snapshot]:
    """Each retry wait, with what the sync had written when it began."""
    seen: list[Snapshot] = []

    def wait(seconds: float, cancelled: threading.Event) -> None:
        del cancelled
        seen.append(live.snapshot(seconds))

    monkeypatch.setattr(requester, "wait_before_retry", wait)
    return seen


@pytest.fixture
def pacer_time(monkeypatch: pytest.MonkeyPatch, live: LiveSync) -> WatchedTime:
    """The pacer's holds on a virtual clock that notes when the first began."""
    clock = WatchedTime(live)
    monkeypatch.setattr(pacing, "time", clock)
    return clock


def ids_of_pages(sandbox: SandboxServer, pages: int) -> list[int]:
    """The ids on the first ``pages`` pages of 10, in the API's order."""
    return [r["id"] for r in sandbox.store.all_records()[: pages * 10]]


# One page at a time: the walk has taken exactly the pages before the wait.
def test_a_retry_wait_is_named_and_what_was_read_is_out_before_it_begins(
    sandbox: SandboxServer, live: LiveSync, retry_waits: list[Snapshot]
) -> None:
    fault = Fault.status(503, headers={"Retry-After": "30"})
    sandbox.faults.add(fault, page=5)
    output, error = live.run(tap_config(sandbox, max_concurrent_requests=1))
    assert error is None
    assert output.records == sandbox.store.all_records()
    (wait,) = retry_waits
    assert wait.seconds == 30.0
    assert [r["id"] for r in wait.records] == ids_of_pages(sandbox, 4)
    (line,) = [w for w in wait.warnings if "Retry-After: 30" in w]
    assert "retrying in 30.0 s" in line
    assert "page 5" in line


def test_a_rate_limit_hold_is_named_and_what_was_read_is_out_before_it_begins(
    sandbox: SandboxServer, live: LiveSync, pacer_time: WatchedTime
) -> None:
    # Page 5 answers normally, saying that no request is left for 30 s.
    sandbox.faults.add(
        Fault.rate_limit_headers(0, 30, spellings=("RateLimit",)), page=5
    )
    output, error = live.run(tap_config(sandbox, max_concurrent_requests=1))
    assert error is None
    assert output.records == sandbox.store.all_records()
    hold = pacer_time.first
    assert hold is not None
    # Page 5's own records included: they were read before the hold.
    assert [r["id"] for r in hold.records] == ids_of_pages(sandbox, 5)
    (line,) = [w for w in hold.warnings if "no request is left" in w]
    assert "RateLimit-Remaining: 0, RateLimit-Reset: 30" in line
    assert "every request waits 30 s" in line
    assert pacer_time.slept == pytest.approx(30.0)


@pytest.mark.parametrize("x_reset", ["delay", "epoch", "epoch_ms"])
def test_x_ratelimit_reset_in_seconds_epoch_seconds_or_milliseconds_waits_as_long(
    sandbox: SandboxServer,
    live: LiveSync,
    pacer_time: WatchedTime,
    x_reset: t.Literal["delay", "epoch", "epoch_ms"],
) -> None:
    # Reckoned on the API's Date (standing, so that the reset and the Date are
    # told at one instant): 30 s, not 1.7e9 s or 1.7e12 s.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    sandbox.date_clock = Clock(0, source=lambda: now)
    fault = Fault.rate_limit_headers(0, 30, x_reset=x_reset, spellings=("X-RateLimit",))
    sandbox.faults.add(fault, page=2)
    # One worker: the virtual clock adds up every sleeper's sleeps, so two
    # workers waiting out the same hold side by side would count it twice.
    output, error = live.run(tap_config(sandbox, max_concurrent_requests=1))
    assert error is None
    assert output.records == sandbox.store.all_records()
    assert pacer_time.slept == pytest.approx(30.0)
    (line,) = [m for m in live.caplog.messages if "X-RateLimit-Reset" in m]
    assert "every request waits 30 s" in line


@pytest.mark.usefixtures("each_mode")
def test_a_reset_an_hour_away_on_every_answer_stops_before_the_next_request(
    sandbox: SandboxServer,
    live: LiveSync,
    pacer_time: WatchedTime,
    retry_waits: list[Snapshot],
) -> None:
    sandbox.faults.add(Fault.rate_limit_headers(0, 3600), times=None)
    output, error = live.run(tap_config(sandbox))
    assert isinstance(error, WaitTooLongError)
    assert "no request is left for now" in str(error)
    assert "asked to wait 3600 s" in str(error)
    assert sandbox.list_request_count == 1
    assert pacer_time.slept == 0.0
    assert retry_waits == []
    # Page 1 was read: its records are out, the bookmark has not moved.
    assert output.ids == ids_of_pages(sandbox, 1)
    assert all(not s.get("bookmarks", {}).get("enrollments") for s in output.states)


def test_a_reset_an_hour_away_after_the_last_page_is_no_reason_to_stop(
    sandbox: SandboxServer, pacer_time: WatchedTime
) -> None:
    # One page holds them all: no request is left to make, so nothing waits.
    sandbox.faults.add(Fault.rate_limit_headers(0, 3600), times=None)
    output = sync(tap_config(sandbox, page_size=100))
    assert output.records == sandbox.store.all_records()
    assert output.bookmark is not None
    assert pacer_time.slept == 0.0


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (
            Fault.rate_limit_headers(0, 3600),
            (
                "ReviewRover says no request is left for now: it asked to wait "
                "3600 s before the next request (RateLimit-Remaining: 0, "
                "RateLimit-Reset: 3600)"
            ),
        ),
        (
            Fault.status(429, headers={"Retry-After": "86400"}),
            "it asked to wait 86400 s before the next request (Retry-After: 86400)",
        ),
    ],
    ids=["rate-limit-reset", "retry-after"],
)
def test_a_wait_over_the_cap_is_one_line_from_the_command_line(
    sandbox: SandboxServer, tmp_path: Path, fault: Fault, problem: str
) -> None:
    sandbox.faults.add(fault, times=None)
    run = run_cli(tmp_path, tap_config(sandbox))
    assert run.returncode == 1, run.stderr
    (error,) = logged_at(run.stderr, "ERROR", "CRITICAL")
    assert problem in error
    assert f"more than the {MAX_WAIT_SECONDS:.0f} s the tap waits" in error
    assert logged_at(run.stderr, "WARNING") == []
    assert sandbox.list_request_count == 1


def test_a_gzip_bomb_is_one_line_naming_the_page_in_little_memory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # 2 GiB once decompressed, about 2 MB on the wire.
    sandbox.faults.add(Fault.gzip_bomb(2 * 2**30), page=2, times=None)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(tap_config(sandbox)))
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    peak_path = tmp_path / "peak"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        # Through a small launcher: a child's peak memory starts at its parent's
        # at the fork (Linux keeps it across exec), and this test process may be
        # large; the launcher is small, and measures the tap it forks.
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_LAUNCHER,
                str(peak_path),
                *tap_command("--config", str(config_path)),
            ],
            stdout=out,
            stderr=err,
            env=clean_env(),
            timeout=120,
            check=False,
        )
    peak_megabytes = int(peak_path.read_text()) / 1024  # KiB on Linux
    stdout, stderr = out_path.read_text(), err_path.read_text()
    _CLI_OUTPUT.extend([stdout, stderr])
    assert completed.returncode == 1, stderr
    (error,) = logged_at(stderr, "ERROR", "CRITICAL")
    assert f"answer for page 2 of {sandbox.url}/v1/enrollments is larger than" in error
    assert "max_response_megabytes" in error
    assert peak_megabytes < BOMB_PEAK_RSS_MB
    # Refused, not retried as if the connection had failed.
    page_two = [r for r in sandbox.requests if r.query.get("page") == "2"]
    assert len(page_two) == 1
    assert "retrying" not in stderr
    assert TOKEN not in stdout + stderr


def test_a_response_over_the_size_setting_is_refused_in_process(
    sandbox: SandboxServer, waits: list[float]
) -> None:
    sandbox.faults.add(Fault.gzip_bomb(2 * 2**20), page=3, times=None)
    with pytest.raises(BadResponseError, match="answer for page 3 of") as caught:
        sync(tap_config(sandbox, max_response_megabytes=1))
    assert "larger than 1 MB once decompressed" in str(caught.value)
    assert waits == []
