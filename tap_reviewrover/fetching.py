"""Pages fetched ahead on a few threads, handed back in the order they are needed.

:class:`PageFetcher` knows nothing of HTTP or of the list: it calls ``fetch(key)``
(a page, such as ``(number, limit)``) on worker threads and returns each outcome
when asked for. Requests carry the page
walk's *epoch* (see :mod:`tap_reviewrover.paging`): once the walk moves to a newer
epoch, answers to older requests are dropped, and older requests still queued are
never sent.

Threads: the fetcher's workers only call ``fetch``; everything else (requests,
answers, the notices a worker posts with :meth:`PageFetcher.post`) is handled in
the thread that calls :meth:`PageFetcher.take`, the walk's. Closing the fetcher
cancels what waits and joins the workers.
"""

from __future__ import annotations

import queue
import threading
import typing as t

from tap_reviewrover.threads import start_deaf_to_stops

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

T = t.TypeVar("T")
K = t.TypeVar("K", bound=t.Hashable)

#: A request: (epoch, page key).
Request = tuple[int, t.Any]
#: Seconds :meth:`PageFetcher.close` waits for each worker's request in flight.
JOIN_SECONDS = 5.0
#: Longest the walk waits for an answer without running Python code. CPython runs
#: a signal's handler in the main thread, between two bytecodes: a SIGTERM that
#: lands just before the wait starts (or that another thread took) would not wake
#: it, and the stop would wait for the page, which a hanging API may never send.
WAKE_SECONDS = 0.25


class FetcherClosedError(Exception):
    """Raised by a ``fetch`` that finds its fetcher closed: nobody waits for it."""


class _Skipped:
    """The outcome of a stale request that was never sent."""


_SKIPPED = _Skipped()


class PageFetcher(t.Generic[K, T]):
    """Fetches pages on ``workers`` daemon threads; use it as a context manager.

    Use it as::

        with PageFetcher(fetch, workers=4) as fetcher:
            fetcher.request([(2, 100), (3, 100)], walk.epoch)
            page = fetcher.take((2, 100), walk.epoch)

    Attributes:
        discarded: Answers fetched for a request that had gone stale.
        sent: Requests handed to ``fetch``: every one, answered, stale or cut
            (final once the fetcher is closed).
        closed: Set once the fetcher is closed; a ``fetch`` in progress should
            stop at its next try.
    """

    def __init__(
        self,
        fetch: Callable[[K], T],
        *,
        workers: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Prepare the workers; each thread starts once there is work for it.

        Args:
            fetch: Fetches one page (with its own retries); may raise.
            workers: Requests in flight at most.
            on_close: Cuts the requests in flight, called on :meth:`close` (no
                answer is waited for once the walk has ended).
        """
        self._on_close = on_close
        self.discarded = 0
        self.sent = 0
        self._sent_lock = threading.Lock()
        self.closed = threading.Event()
        self._fetch = fetch
        self._epoch = 0
        self._jobs: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[
            tuple[Request, object, bool] | Callable[[], None]
        ] = queue.SimpleQueue()
        self._outstanding: set[Request] = set()
        self._ready: dict[Request, tuple[object, bool]] = {}
        self._workers = workers
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> PageFetcher[K, T]:
        """Use the fetcher in a ``with`` block.

        Returns:
            The fetcher.
        """
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the workers once their current request is done."""
        self.close()

    def close(self) -> None:
        """Stop the workers once their current request is done, and join them.

        The requests in flight are cut (``on_close``); a worker still busy after
        :data:`JOIN_SECONDS` is left to end on its own (its thread is a daemon,
        so that it never holds up the exit of a tap that has failed).
        """
        self.closed.set()
        if self._on_close is not None:
            self._on_close()
        self._epoch = -1  # every queued request is now stale
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            # A stop signal may land between a thread's creation and its start.
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(JOIN_SECONDS)

    def post(self, notice: Callable[[], None]) -> None:
        """Have ``notice`` called in the thread taking the answers (thread-safe).

        Args:
            notice: Called once, by the next or current :meth:`take`.
        """
        self._answers.put(notice)

    def request(self, keys: Iterable[K], epoch: int) -> None:
        """Ask for pages not asked for yet in this epoch.

        Args:
            keys: The pages.
            epoch: The walk's epoch now; older requests become stale.
        """
        if epoch != self._epoch:
            self._epoch = epoch
            self._outstanding = {r for r in self._outstanding if r[0] == epoch}
            stale = [r for r in self._ready if r[0] != epoch]
            for request in stale:
                self._drop(request, self._ready.pop(request)[0])
        for key in keys:
            request = (epoch, key)
            if request not in self._outstanding:
                self._outstanding.add(request)
                self._jobs.put(request)
        self._start_workers(len(self._outstanding))

    def _start_workers(self, wanted: int) -> None:
        # As many threads as requests wait, up to the workers: reading one page
        # at a time needs one thread, and idle threads cost CPU on every page.
        while len(self._threads) < min(wanted, self._workers):
            thread = threading.Thread(
                target=self._work,
                name=f"page-fetcher-{len(self._threads)}",
                # A worker asleep in a long back-off must not hold up the exit
                # of a tap that has already failed.
                daemon=True,
            )
            self._threads.append(thread)
            start_deaf_to_stops(thread)  # a stop signal is the walk's to take

    def take(self, key: K, epoch: int) -> T:
        """Wait for the answer to a request made with :meth:`request`.

        Args:
            key: The page.
            epoch: The epoch it was requested in.

        Returns:
            What ``fetch`` returned.

        Raises:
            KeyError: If the page was not requested in that epoch.
        """
        wanted = (epoch, key)
        if wanted not in self._outstanding:
            msg = f"page {key} was not requested in epoch {epoch}"
            raise KeyError(msg)
        while wanted not in self._ready:
            try:
                answer = self._answers.get(timeout=WAKE_SECONDS)
            except queue.Empty:
                continue  # back in Python code: a stop signal's handler runs now
            if callable(answer):
                answer()  # a worker's notice, run in this thread
                continue
            request, outcome, ok = answer
            if request[0] == epoch:
                self._ready[request] = (outcome, ok)
            else:
                self._drop(request, outcome)
        outcome, ok = self._ready.pop(wanted)
        self._outstanding.discard(wanted)
        if not ok:
            raise t.cast("BaseException", outcome)
        return t.cast("T", outcome)

    def _drop(self, request: Request, outcome: object) -> None:
        self._outstanding.discard(request)
        if outcome is not _SKIPPED:
            self.discarded += 1

    def _work(self) -> None:
        while (request := self._jobs.get()) is not None:
            if request[0] != self._epoch:
                self._answers.put((request, _SKIPPED, True))
                continue
            with self._sent_lock:
                self.sent += 1
            try:
                self._answers.put((request, self._fetch(request[1]), True))
            except BaseException as exc:  # noqa: BLE001 - handed to take()
                self._answers.put((request, exc, False))


#: Below this response time (seconds) pages are read one by one: requests that
#: fast gain little from being several at once, and threads competing for the
#: interpreter cost CPU on every page.
LATENCY_WORTH_READING_AHEAD = 0.005
#: Weight of the newest response time in the running average.
LATENCY_WEIGHT = 0.3


class ReadAhead:
    """How many pages to have requested ahead of the walk, from response times.

    Pages are fetched ahead (twice the workers, so that none idles while a page
    is emitted) only while responses take long enough for that to pay.

    Attributes:
        pages: Pages to have requested now, the next page included.
    """

    def __init__(self, workers: int) -> None:
        """Start one page at a time (until a response time is known).

        Args:
            workers: Requests in flight at most.
        """
        self.pages = 1
        self._most = 2 * workers if workers > 1 else 1
        self._latency: float | None = None

    def answered_in(self, seconds: float) -> None:
        """Take in the response time of a page.

        Args:
            seconds: From sending the request to the whole response.
        """
        latency = self._latency
        latency = (
            seconds
            if latency is None
            else (LATENCY_WEIGHT * seconds + (1 - LATENCY_WEIGHT) * latency)
        )
        self._latency = latency
        self.pages = self._most if latency >= LATENCY_WORTH_READING_AHEAD else 1
