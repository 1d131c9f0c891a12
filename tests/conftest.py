"""Fixtures: the sandbox API, in-process and command-line syncs, patched waits."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

import psycopg
import pytest
from reviewrover_sandbox import EnrollmentStore, ForwardProxy, SandboxServer, SandboxTls

from tap_reviewrover import pacing, requester
from tap_reviewrover.redaction import REDACTOR
from tap_reviewrover.tap import TapReviewRover
from tap_reviewrover.tap import main as tap_main

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _pytest.monkeypatch import MonkeyPatch

#: The PostgreSQL the end-to-end tests load (database `test`), and its server.
DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
#: A token no real account has; tests check it never shows in any output.
TOKEN = "rr-test-token-5f1d2c9a7b"  # noqa: S105
#: Enrollments in the default sandbox: several pages at the test page size.
SEEDED = 95
PAGE_SIZE = 10


@dataclass
class SyncOutput:
    """What one sync wrote: Singer messages, split by type."""

    messages: list[dict[str, t.Any]]
    records: list[dict[str, t.Any]] = field(init=False)
    states: list[dict[str, t.Any]] = field(init=False)

    def __post_init__(self) -> None:
        """Split the messages by type."""
        self.records = [m["record"] for m in self.messages if m["type"] == "RECORD"]
        self.states = [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def ids(self) -> list[int]:
        """The ids of the records, in the order emitted."""
        return [record["id"] for record in self.records]

    @property
    def final_state(self) -> dict[str, t.Any]:
        """The last STATE message's value."""
        assert self.states, "the sync wrote no STATE message"
        return self.states[-1]

    @property
    def bookmark(self) -> str | None:
        """The unpartitioned bookmark of enrollments in the final state."""
        return self.bookmark_of("enrollments")

    def bookmark_of(self, stream: str) -> str | None:
        """A stream's unpartitioned bookmark in the final state."""
        stream_state = self.final_state["bookmarks"].get(stream, {})
        return t.cast("str | None", stream_state.get("replication_key_value"))


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    """Decode the Singer messages a tap wrote, one JSON object a line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox API with ``SEEDED`` enrollments, on a free port."""
    with SandboxServer(EnrollmentStore.seeded(SEEDED), token=TOKEN) as server:
        yield server


@pytest.fixture
def empty_sandbox() -> Iterator[SandboxServer]:
    """The sandbox API with no enrollments."""
    with SandboxServer(EnrollmentStore(), token=TOKEN) as server:
        yield server


@pytest.fixture
def https_sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """The sandbox API over HTTPS, with a certificate from a throwaway private CA.

    Its ``ca_bundle`` is the CA's PEM file, for ``REQUESTS_CA_BUNDLE``.
    """
    tls = SandboxTls.private_ca(tmp_path)
    store = EnrollmentStore.seeded(SEEDED)
    with SandboxServer(store, token=TOKEN, tls=tls) as server:
        yield server


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    """A forwarding proxy (CONNECT too) that records each request through it."""
    with ForwardProxy() as proxy:
        yield proxy


#: Requests in flight in the syncs of a test (see ``each_mode``).
_REQUESTS_IN_FLIGHT: ContextVar[int] = ContextVar("requests_in_flight", default=4)


@pytest.fixture(params=[1, 4], ids=["sequential", "concurrent"])
def each_mode(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test twice: pages read one by one, and four at a time.

    ``tap_config`` picks the mode up; a module opts in with
    ``pytestmark = pytest.mark.usefixtures("each_mode")``.
    """
    in_flight = t.cast("int", request.param)
    token = _REQUESTS_IN_FLIGHT.set(in_flight)
    yield in_flight
    _REQUESTS_IN_FLIGHT.reset(token)


def tap_config(server: SandboxServer, **overrides: t.Any) -> dict[str, t.Any]:
    """A tap config for ``server``, with small pages so that tests walk many."""
    return {
        "api_url": server.url,
        "auth_token": server.token,
        "page_size": PAGE_SIZE,
        "max_concurrent_requests": _REQUESTS_IN_FLIGHT.get(),
        **overrides,
    }


def sync(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    tap_class: type[TapReviewRover] = TapReviewRover,
) -> SyncOutput:
    """Run one sync in this process and collect what it wrote to stdout."""
    output, error = attempt_sync(
        config, state=state, catalog=catalog, tap_class=tap_class
    )
    if error is not None:
        raise error
    return output


#: Output of the command-line runs of the current test (see ``no_token_anywhere``).
_CLI_OUTPUT: list[str] = []


@pytest.fixture(autouse=True)
def no_token_anywhere(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[None]:
    """Fail any test whose output shows the API token, in any form.

    Scans every log record, everything written to stdout and stderr (fd level),
    and the output of every command-line run, raw and in its ``Bearer`` form.
    """
    _CLI_OUTPUT.clear()
    yield
    captured = capfd.readouterr()
    outputs = {
        "logs": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "command-line runs": "\n".join(_CLI_OUTPUT),
    }
    # Re-emit what was captured, so that a failing test still shows it.
    sys.stdout.write(captured.out)
    sys.stderr.write(captured.err)
    for where, text in outputs.items():
        assert TOKEN not in text, f"the API token shows in the test's {where}"


def attempt_sync(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    tap_class: type[TapReviewRover] = TapReviewRover,
) -> tuple[SyncOutput, Exception | None]:
    """Run one sync that may fail; return what it wrote, and the error if any."""
    tap = tap_class(
        config=config,
        state=state,
        catalog=catalog,
        parse_env_config=False,
    )
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    error: Exception | None = None
    try:
        with contextlib.redirect_stdout(buffer):
            tap.sync_all()
    except Exception as caught:  # noqa: BLE001 - the test checks which
        error = caught
    buffer.seek(0)
    return SyncOutput(parse_messages(buffer.read())), error


def failed_sync(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> tuple[SyncOutput, Exception]:
    """Run one sync that must fail; return what it wrote, and the error."""
    output, error = attempt_sync(config, state=state, catalog=catalog)
    assert error is not None, "the sync did not fail"
    return output, error


@dataclass
class CliRun:
    """A finished command-line run of the tap."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> SyncOutput:
        """The Singer messages the run wrote."""
        return SyncOutput(parse_messages(self.stdout))


def tap_command(*args: str) -> list[str]:
    """The command line that runs the tap with this interpreter."""
    return [sys.executable, "-m", "tap_reviewrover", *args]


def clean_env() -> dict[str, str]:
    """This process's environment without settings meant for the tap."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_REVIEWROVER")}


def run_cli(
    tmp_path: Path,
    config: dict[str, t.Any] | None,
    *args: str,
    state_text: str | None = None,
    env: dict[str, str] | None = None,
    separate_process: bool = False,
) -> CliRun:
    """Run ``tap-reviewrover`` as a user would, with config and state files.

    By default the command line runs in this process (``tap_reviewrover.tap.main``
    with its arguments, environment, stdout and stderr), a hundred times faster
    than starting Python; ``separate_process`` runs the installed command itself,
    for what only a process shows (signals, file descriptors, start-up).
    """
    command = []
    if config is not None:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        command += ["--config", str(config_path)]
    if state_text is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(state_text)
        command += ["--state", str(state_path)]
    environment = {**clean_env(), **(env or {})}
    if separate_process:
        completed = subprocess.run(
            tap_command(*command, *args),
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
            check=False,
        )
        run = CliRun(completed.returncode, completed.stdout, completed.stderr)
    else:
        run = _run_main([*command, *args], environment)
    _CLI_OUTPUT.extend([run.stdout, run.stderr])
    return run


def _run_main(arguments: list[str], environment: dict[str, str]) -> CliRun:
    """``tap-reviewrover ARGUMENTS`` in this process, as its command would run."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.StringIO()
    saved_environment, saved_argv = dict(os.environ), sys.argv
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    returncode = 0
    os.environ.clear()
    os.environ.update(environment)
    sys.argv = ["tap-reviewrover", *arguments]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            tap_main()
    except SystemExit as exit_:
        code = exit_.code
        returncode = code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)
        sys.argv = saved_argv
        for number, handler in saved_signals.items():
            signal.signal(number, handler)
    stdout.flush()
    stdout.seek(0)
    return CliRun(returncode, stdout.read(), stderr.getvalue())


#: A log line as the tap writes it: ``time | LEVEL | logger | message``.
_LOG_LINE = re.compile(r"^\S+ \S+ \| (\w+) *\| [^|]*\| (.*)$")


def logged_at(stderr: str, *levels: str) -> list[str]:
    """The messages of a run's log lines at any of ``levels``, such as ERROR."""
    matches = (_LOG_LINE.match(line) for line in stderr.splitlines())
    return [m[2] for m in matches if m is not None and m[1] in levels]


def assert_one_error_line(run: CliRun, problem: str) -> str:
    """Exit 1 with exactly one ERROR line, which says ``problem``; return it."""
    assert run.returncode == 1, run.stderr[-3000:]
    errors = logged_at(run.stderr, "ERROR", "CRITICAL")
    assert len(errors) == 1, errors
    assert problem in errors[0], errors[0]
    assert "Traceback" not in run.stderr
    return errors[0]


def no_bookmark_anywhere(output: SyncOutput) -> None:
    """No STATE the sync wrote has a bookmark value, partitioned or not."""
    for state in output.states:
        for stream_state in state.get("bookmarks", {}).values():
            for bookmark in [stream_state, *stream_state.get("partitions", [])]:
                assert bookmark.get("replication_key_value") is None, state


class VirtualTime:
    """Monotonic time that a sleep moves on at once, instead of waiting."""

    def __init__(self) -> None:
        """Start at the real time."""
        self._start = time.monotonic()
        self.slept = 0.0

    def monotonic(self) -> float:
        """Real time since the start, plus every sleep."""
        return time.monotonic() + self.slept

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass, at once."""
        self.slept += max(0.0, seconds)


@pytest.fixture
def virtual_pacing(monkeypatch: MonkeyPatch) -> VirtualTime:
    """The pacer's waits pass at once (tests of what a sync does, not how fast)."""
    virtual = VirtualTime()
    monkeypatch.setattr(pacing, "time", virtual)
    return virtual


@pytest.fixture
def waits(monkeypatch: MonkeyPatch) -> list[float]:
    """Record the waits between retries instead of sleeping them."""
    recorded: list[float] = []

    def record(seconds: float, cancelled: object) -> None:
        del cancelled
        recorded.append(seconds)

    monkeypatch.setattr(requester, "wait_before_retry", record)
    return recorded


@pytest.fixture(autouse=True, scope="session")
def redacted_logs() -> None:
    """Every log record redacted, as ``tap_reviewrover.cli.main`` sets it up."""
    REDACTOR.install()


@pytest.fixture
def postgres() -> Iterator[psycopg.Connection[tuple[t.Any, ...]]]:
    """A connection to the `test` database; skips (fails under CI) without one."""
    try:
        connection = psycopg.connect(DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        problem = f"PostgreSQL is not reachable at 127.0.0.1:5432: {error}"
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"{problem} (CI needs it; .ci/run starts it)")
        pytest.skip(f"{problem} (start it to run the end-to-end tests)")
    with connection:
        yield connection


@pytest.fixture
def schema(postgres: psycopg.Connection[tuple[t.Any, ...]]) -> Iterator[str]:
    """A schema of this test's own, dropped afterwards."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    yield name
    postgres.execute(f"drop schema if exists {name} cascade")
