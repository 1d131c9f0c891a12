"""The deadline on a whole answer: a slow or dripping server fails the try.

No test here depends on the machine's speed. The requester's watchdog runs on a
clock that moves only when the test says, and the test says so from inside the
sandbox, once the faulty answer has begun (a slow answer's pause, or a drip's
fifth byte); the request timeout is long (30 s), so that no normal page, on any
machine, comes near it and no socket timeout fires. One request in flight at a
time: moving the clock expires every request in flight.
"""

from __future__ import annotations

import logging
import threading
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover import requester
from tap_reviewrover.deadline import Watch, Watchdog
from tap_reviewrover.errors import RetriesExhaustedError
from tests.conftest import sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

#: The request timeout of these syncs, in seconds.
TIMEOUT = 30
#: A slow answer's pause, and a drip's pause between bytes: only markers here.
SLOW_SECONDS = 3600.0
DRIP_SECONDS = 0.25
#: Bytes a drip sends before its deadline passes.
DRIPPED_BEFORE_THE_DEADLINE = 5
TIMED_OUT = f"no whole answer within the {TIMEOUT} s request timeout"


class SteppedWatchdog(Watchdog):
    """The requester's watchdog, on a clock that moves only when told to."""

    def __init__(self) -> None:
        """Start at 0, with no watch."""
        self.now = 0.0
        self.watches: list[Watch] = []
        super().__init__(clock=lambda: self.now)

    def watch(self, seconds: float) -> Watch:
        """Arm a deadline, and keep it for the test to count."""
        armed = super().watch(seconds)
        self.watches.append(armed)
        return armed

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.now += seconds
        self.recheck()

    @property
    def expired(self) -> int:
        """Requests the deadline cut."""
        return sum(watch.expired for watch in self.watches)


@pytest.fixture
def watchdog(monkeypatch: pytest.MonkeyPatch) -> SteppedWatchdog:
    """The one watchdog of the sync's requester."""
    stepped = SteppedWatchdog()
    monkeypatch.setattr(requester, "Watchdog", lambda: stepped)
    return stepped


def deadline_passes_mid_answer(
    sandbox: SandboxServer, watchdog: SteppedWatchdog, *, pause: float, after: int
) -> None:
    """Pass the deadline at the ``after``-th pause of ``pause`` s in an answer.

    The pauses before it take no time (a drip's bytes go out at once); from it
    on, the answer stays where it is until the server stops (its connection is
    cut meanwhile, and the tap tries again on a new one).
    """
    really_wait = sandbox.wait
    pauses = threading.local()

    def wait(seconds: float) -> bool:
        if seconds != pause:
            return really_wait(seconds)
        pauses.count = getattr(pauses, "count", 0) + 1  # per connection's thread
        if pauses.count < after:
            return True
        watchdog.pass_time(TIMEOUT + 1)
        return really_wait(SLOW_SECONDS)

    sandbox.wait = wait  # type: ignore[method-assign]


def config_for(sandbox: SandboxServer, **overrides: t.Any) -> dict[str, t.Any]:
    """One request at a time, with a request timeout no normal page nears."""
    return tap_config(
        sandbox, request_timeout=TIMEOUT, max_concurrent_requests=1, **overrides
    )


def test_a_slow_answer_fails_the_try_and_it_is_retried(
    sandbox: SandboxServer,
    watchdog: SteppedWatchdog,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.add(Fault.slow(SLOW_SECONDS), times=2, page=4)
    deadline_passes_mid_answer(sandbox, watchdog, pause=SLOW_SECONDS, after=1)
    output = sync(config_for(sandbox))
    assert output.records == sandbox.store.all_records()
    assert len(waits) == 2
    assert watchdog.expired == 2
    retried = [r.getMessage() for r in caplog.records if TIMED_OUT in r.getMessage()]
    assert len(retried) == 2
    assert all(
        r.levelno == logging.WARNING
        for r in caplog.records
        if TIMED_OUT in r.getMessage()
    )


def test_timeouts_that_persist_say_so(
    sandbox: SandboxServer, watchdog: SteppedWatchdog, waits: list[float]
) -> None:
    sandbox.faults.add(Fault.slow(SLOW_SECONDS), times=None)
    deadline_passes_mid_answer(sandbox, watchdog, pause=SLOW_SECONDS, after=1)
    with pytest.raises(RetriesExhaustedError, match=TIMED_OUT):
        sync(config_for(sandbox, max_retries=1))
    assert len(waits) == 1
    assert watchdog.expired == 2


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_server_dripping_its_answer_fails_that_try_and_it_is_retried(
    sandbox: SandboxServer,
    watchdog: SteppedWatchdog,
    waits: list[float],
    caplog: pytest.LogCaptureFixture,
    headers_too: bool,  # noqa: FBT001
) -> None:
    # Every read of the drip returns a byte at once: only the deadline on the
    # whole answer ends it.
    sandbox.faults.add(Fault.drip(DRIP_SECONDS, headers_too=headers_too), page=3)
    deadline_passes_mid_answer(
        sandbox, watchdog, pause=DRIP_SECONDS, after=DRIPPED_BEFORE_THE_DEADLINE
    )
    output = sync(config_for(sandbox))
    assert output.records == sandbox.store.all_records()
    assert len(waits) == 1
    assert watchdog.expired == 1
    assert TIMED_OUT in caplog.text


def test_a_server_that_always_drips_ends_the_sync_with_the_timeout(
    sandbox: SandboxServer, watchdog: SteppedWatchdog, waits: list[float]
) -> None:
    sandbox.faults.add(Fault.drip(DRIP_SECONDS), page=2, times=None)
    deadline_passes_mid_answer(
        sandbox, watchdog, pause=DRIP_SECONDS, after=DRIPPED_BEFORE_THE_DEADLINE
    )
    with pytest.raises(RetriesExhaustedError, match=TIMED_OUT):
        sync(config_for(sandbox, max_retries=2))
    assert len(waits) == 2
    assert watchdog.expired == 3
