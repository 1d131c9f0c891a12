"""Reading the pages of one walk: worker threads, retries and one shared pause.

:class:`PageReader` owns what reading pages needs for the length of one walk: the
:class:`~tap_reviewrover.fetching.PageFetcher` and its threads, the
:class:`~tap_reviewrover.fetching.SharedPause` every try waits on, and the retry
policy (the SDK's ``request_decorator``, driven by the stream's backoff hooks).
The stream asks it for pages and gets back :class:`FetchedPage` objects, or the
error that ended the tries.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_reviewrover.errors import (
    RateLimitedError,
    RetriesExhaustedError,
    ReviewRoverError,
    describe_failure,
)
from tap_reviewrover.fetching import FetcherClosedError, PageFetcher, SharedPause

if t.TYPE_CHECKING:
    import datetime as dt
    import threading
    from types import TracebackType

    from singer_sdk.helpers.types import Context
    from typing_extensions import Self

    from tap_reviewrover.client import ReviewRoverStream
    from tap_reviewrover.records import Pagination

#: A page to read: its number and the page size asked for.
PageKey = tuple[int, int]


@dataclass(frozen=True)
class FetchedPage:
    """One page as the API answered it, decoded and checked against the schema.

    Attributes:
        number: The page asked for.
        limit: The page size asked for.
        records: The records (typed), in API order.
        pagination: The ``pagination`` object.
        unknown_fields: Fields beyond the schema first seen on this page.
        api_clock: The response's ``Date``, if it had one.
        received_at: This host's clock when the answer arrived.
        rate_limit_wait: Seconds its rate-limit headers say to wait before the
            next request, when they say none are left.
        seconds: How long the answer took, from the request to its last byte.
    """

    number: int
    limit: int
    records: list[t.Any]
    pagination: Pagination
    unknown_fields: set[str]
    api_clock: dt.datetime | None
    received_at: dt.datetime
    rate_limit_wait: float | None = None
    seconds: float = 0.0


@dataclass
class Attempt:
    """The tries at one page, as the retry loop and its handler see them.

    Passed by name (``attempt=``) through the retry decorator, so that the
    stream's backoff handler finds the page and the pause it belongs to.

    Attributes:
        number: The page.
        limit: The page size asked for.
        pause: The pause shared by every request of the walk.
        abandoned: Set once nobody waits for the page any more (the walk ended,
            or failed): a retry would only wait for nothing.
        tries: Tries made so far.
    """

    number: int
    limit: int
    pause: SharedPause
    abandoned: threading.Event
    tries: int = field(default=0)


class PageReader:
    """Reads one walk's pages on ``workers`` threads; use it as a context manager.

    Use it as::

        with PageReader(stream, context, workers=4) as reader:
            reader.request([(2, 100), (3, 100)], epoch)
            page = reader.take((2, 100), epoch)

    Attributes:
        pause: The pause every try waits on while another waits to retry.
    """

    def __init__(
        self,
        stream: ReviewRoverStream,
        context: Context | None,
        *,
        workers: int,
    ) -> None:
        """Start the worker threads.

        Args:
            stream: The stream whose pages to read (its HTTP and backoff hooks).
            context: The partition, or None.
            workers: Requests in flight at most.
        """
        self.pause = SharedPause()
        self._stream = stream
        self._context = context
        # The SDK types request_decorator for its own request function; it wraps
        # any callable with the stream's retry policy.
        self._retried: t.Callable[..., FetchedPage] = stream.request_decorator(
            self._try_once,
        )
        self._fetcher: PageFetcher[PageKey, FetchedPage] = PageFetcher(
            self._fetch, workers=workers
        )

    def __enter__(self) -> Self:
        """Use the reader in a ``with`` block.

        Returns:
            The reader.
        """
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the workers once their current try is done."""
        self._fetcher.close()

    @property
    def discarded(self) -> int:
        """Answers fetched ahead and dropped as the list changed meanwhile."""
        return self._fetcher.discarded

    def request(self, keys: t.Iterable[PageKey], epoch: int) -> None:
        """Ask for pages (``(number, limit)``) not asked for yet in this epoch.

        Args:
            keys: The pages.
            epoch: The walk's epoch now; older requests become stale.
        """
        self._fetcher.request(keys, epoch)

    def take(self, key: PageKey, epoch: int) -> FetchedPage:
        """Wait for a page asked for with :meth:`request`.

        Args:
            key: The page.
            epoch: The epoch it was asked for in.

        Returns:
            The page.
        """
        return self._fetcher.take(key, epoch)

    def _fetch(self, key: PageKey) -> FetchedPage:
        number, limit = key
        attempt = Attempt(number, limit, self.pause, self._fetcher.closed)
        try:
            return self._retried(attempt=attempt)
        except (ReviewRoverError, FetcherClosedError):
            raise
        except (
            RetriableAPIError,
            requests.exceptions.RequestException,
            ConnectionError,
        ) as exc:
            where = self._stream.describe_page(number)
            reason = describe_failure(
                exc, timeout=self._stream.timeout, url=self._stream.url_base
            )
            if attempt.tries >= self._stream.backoff_max_tries():
                msg = (
                    f"Gave up on {where} after {attempt.tries} tries; the last one "
                    f"failed with: {reason}"
                )
                raise RetriesExhaustedError(msg) from None
            msg = f"Could not request {where}: {reason}"
            raise ReviewRoverError(msg) from None
        finally:
            self.pause.release()

    def _try_once(self, *, attempt: Attempt) -> FetchedPage:
        attempt.tries += 1
        self.pause.release()  # this thread's own wait, if any, is over
        if self._fetcher.closed.is_set():
            raise FetcherClosedError
        self.pause.wait_for_the_others()
        pacer = self._stream.pacer
        pacer.wait_turn()
        try:
            page = self._stream.fetch_page(self._context, attempt.number, attempt.limit)
        except RateLimitedError as exc:
            # The pacer learns the rate from it (and spaces the retry), unless
            # the wait asked for is long: then every request waits it out.
            exc.paced = pacer.refused(exc.retry_after)
            raise
        pacer.succeeded()
        if page.rate_limit_wait is not None:
            pacer.none_left(page.rate_limit_wait)  # slow down before a 429
        return page
