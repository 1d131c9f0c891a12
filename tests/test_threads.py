"""A stop signal reaches the walk: the tap's own threads never take it."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

from tap_reviewrover.deadline import Watchdog
from tap_reviewrover.fetching import PageFetcher
from tap_reviewrover.threads import STOP_SIGNALS, start_deaf_to_stops

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="signal masks are read from /proc (Linux)"
)


def blocked_signals(thread: threading.Thread) -> set[int]:
    """The signals ``thread`` blocks, as the kernel sees them."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    (mask,) = [
        line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")
    ]
    bits = int(mask, 16)
    return {number for number in range(1, 65) if bits >> (number - 1) & 1}


def test_page_fetchers_block_the_stop_signals_and_the_caller_still_takes_them() -> None:
    seen: list[set[int]] = []

    def fetch(_: int) -> int:
        seen.append(blocked_signals(threading.current_thread()))
        return 0

    with PageFetcher(fetch, workers=2) as fetcher:
        fetcher.request([1, 2], 0)
        assert fetcher.take(1, 0) == fetcher.take(2, 0) == 0
    assert len(seen) == 2
    for blocked in seen:
        assert blocked >= STOP_SIGNALS
    assert not STOP_SIGNALS & blocked_signals(threading.current_thread())


def test_the_deadline_watchdog_blocks_the_stop_signals() -> None:
    before = set(threading.enumerate())
    with Watchdog().watch(60):
        (thread,) = set(threading.enumerate()) - before
        assert thread.name == "response-deadline"
        assert blocked_signals(thread) >= STOP_SIGNALS
    assert not STOP_SIGNALS & blocked_signals(threading.current_thread())


def test_the_starter_keeps_its_own_mask_and_the_thread_adds_the_stops_to_it() -> None:
    started = threading.Event()
    release = threading.Event()

    def run() -> None:
        started.set()
        release.wait(10)

    thread = threading.Thread(target=run)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        before = blocked_signals(threading.current_thread())
        start_deaf_to_stops(thread)
        assert started.wait(10)
        assert blocked_signals(threading.current_thread()) == before
        assert blocked_signals(thread) == before | STOP_SIGNALS
    finally:
        release.set()
        thread.join()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})


class StoppedError(Exception):
    """What the test's signal handler raises, as the tap's stop raises SystemExit."""


def let_the_worker_take_the_signal_and_wait(
    go: threading.Event, fetcher: PageFetcher[int, int]
) -> None:
    """Let the worker go on (the signal may come at once), and wait for page 1."""
    go.set()
    fetcher.take(1, 0)


def test_a_signal_another_thread_took_still_stops_a_walk_waiting_for_a_page() -> None:
    # The worker takes the signal itself (SIGUSR1 is not one it blocks): its
    # handler is due in the main thread, which is waiting for the worker's page.
    go, release, answered = threading.Event(), threading.Event(), threading.Event()

    def fetch(_: int) -> int:
        go.wait(60)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        release.wait(10)  # a hanging API: the page comes late, or never
        answered.set()
        return 0

    def stop(signum: int, frame: object) -> None:
        del signum, frame
        raise StoppedError

    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        with PageFetcher(fetch, workers=1) as fetcher:
            try:
                fetcher.request([1], 0)
                with pytest.raises(StoppedError):
                    let_the_worker_take_the_signal_and_wait(go, fetcher)
                # The stop came before the page's answer, not with it.
                assert not answered.is_set()
            finally:
                release.set()
    finally:
        signal.signal(signal.SIGUSR1, previous)
