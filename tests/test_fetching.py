"""Fetching pages ahead on threads, and the pause they share (no HTTP)."""

from __future__ import annotations

import threading

import pytest

from tap_reviewrover.fetching import FetcherClosedError, PageFetcher
from tap_reviewrover.pause import SharedPause


def test_pages_come_back_in_the_order_asked_for_whatever_order_they_finish() -> None:
    page_two_may_finish = threading.Event()

    def fetch(number: int) -> int:
        if number == 2:
            assert page_two_may_finish.wait(timeout=10)
        return number * 10

    with PageFetcher(fetch, workers=3) as fetcher:
        fetcher.request([2, 3, 4], epoch=0)
        assert fetcher.take(3, epoch=0) == 30
        assert fetcher.take(4, epoch=0) == 40
        page_two_may_finish.set()
        assert fetcher.take(2, epoch=0) == 20


def test_no_more_requests_run_at_once_than_there_are_workers() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=10)

    def fetch(number: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if number <= 2:
            gate.wait()  # the first two overlap for sure
        with lock:
            running -= 1
        return number

    with PageFetcher(fetch, workers=2) as fetcher:
        fetcher.request(range(1, 9), epoch=0)
        assert [fetcher.take(n, epoch=0) for n in range(1, 9)] == list(range(1, 9))
    assert most == 2


def test_a_failed_fetch_is_raised_when_its_page_is_taken() -> None:
    def fetch(number: int) -> int:
        if number == 3:
            msg = "page 3 is broken"
            raise ValueError(msg)
        return number

    with PageFetcher(fetch, workers=2) as fetcher:
        fetcher.request([2, 3], epoch=0)
        assert fetcher.take(2, epoch=0) == 2
        with pytest.raises(ValueError, match="page 3 is broken"):
            fetcher.take(3, epoch=0)


def same_number(number: int) -> int:
    """A fetch whose answer is the page number."""
    return number


def test_answers_from_an_older_epoch_are_dropped_and_counted() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def fetch(number: int) -> int:
        calls.append(number)
        if calls.count(3) == 1:  # the first request of page 3 is in flight...
            started.set()
            release.wait(5)
        return number

    with PageFetcher(fetch, workers=1) as fetcher:
        fetcher.request([2, 3], epoch=0)
        assert fetcher.take(2, epoch=0) == 2
        started.wait(5)
        # ...when the list moves: page 3 is wanted again, asked for after it.
        fetcher.request([3], epoch=1)
        release.set()
        assert fetcher.take(3, epoch=1) == 3
        assert fetcher.discarded == 1  # the answer of the first request
    assert calls == [2, 3, 3]
    assert fetcher.sent == 3  # the summary counts every request sent


def test_taking_a_page_that_was_not_requested_is_a_programming_error() -> None:
    with (
        PageFetcher(same_number, workers=1) as fetcher,
        pytest.raises(KeyError),
    ):
        fetcher.take(5, epoch=0)


def test_closing_tells_a_fetch_in_progress_to_stop() -> None:
    started, stopped = threading.Event(), threading.Event()

    def fetch(_: int) -> int:
        started.set()
        assert fetcher.closed.wait(timeout=10)
        stopped.set()
        raise FetcherClosedError

    with PageFetcher(fetch, workers=1) as fetcher:
        fetcher.request([1], epoch=0)
        assert started.wait(timeout=10)
    assert stopped.wait(timeout=10)


def test_while_one_worker_waits_to_retry_no_other_starts() -> None:
    pause = SharedPause()
    holding, other_started = threading.Event(), threading.Event()
    may_retry = threading.Event()

    def backing_off() -> None:
        pause.hold()
        holding.set()
        assert may_retry.wait(timeout=10)
        pause.release()

    def other_request() -> None:
        assert holding.wait(timeout=10)
        pause.wait_for_the_others()
        other_started.set()

    threads = [
        threading.Thread(target=backing_off),
        threading.Thread(target=other_request),
    ]
    for thread in threads:
        thread.start()
    assert holding.wait(timeout=10)
    assert not other_started.wait(timeout=0.2)
    may_retry.set()
    assert other_started.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=10)


def test_the_pause_lasts_until_every_waiting_worker_retries() -> None:
    pause = SharedPause()
    releases = [threading.Event(), threading.Event()]
    held = threading.Barrier(3, timeout=10)

    def backing_off(release: threading.Event) -> None:
        pause.hold()
        pause.hold()  # a second failure of the same request holds once
        held.wait()
        assert release.wait(timeout=10)
        pause.release()

    threads = [threading.Thread(target=backing_off, args=(r,)) for r in releases]
    for thread in threads:
        thread.start()
    held.wait()
    releases[0].set()
    threads[0].join(timeout=10)
    opened = threading.Event()

    def other_request() -> None:
        pause.wait_for_the_others()
        opened.set()

    waiter = threading.Thread(target=other_request)
    waiter.start()
    assert not opened.wait(timeout=0.2)
    releases[1].set()
    assert opened.wait(timeout=10)
    for thread in [*threads, waiter]:
        thread.join(timeout=10)


def test_closing_joins_only_the_workers_that_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stop signal (SystemExit in the walk's thread) may land between a worker's
    # creation and its start: closing must not fail on it, or the stop would end
    # in "cannot join thread before it is started" and exit 1, not 143.
    fetcher: PageFetcher[int, int] = PageFetcher(lambda key: key, workers=2)

    def stopped_at_start(thread: threading.Thread) -> None:
        del thread
        raise SystemExit(143)

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", stopped_at_start)
        with pytest.raises(SystemExit):
            fetcher.request([1], epoch=0)
    fetcher.close()  # no RuntimeError
    assert fetcher.closed.is_set()
