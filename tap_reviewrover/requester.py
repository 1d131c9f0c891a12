"""The requester: every HTTP rule of a sync, in one place.

It owns the session (the environment's proxies and CA bundle, read once; never
``~/.netrc``), the prepared request every page copies, the deadline on a whole
answer, the cap on its decompressed size, the pacer, the pause every worker
shares, and the retry loop: what is retried, how long to wait (every wait header
read once, :mod:`tap_reviewrover.waits`), the caps, and one log line per retry.
Walks get :meth:`Requester.fetch` and nothing else.

It is built whole before any worker thread starts; from then on workers only
call :meth:`Requester.fetch`, which shares nothing but the pacer, the pause and
the watchdog (each thread-safe) and the decoder's list of unknown fields (under
its lock).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t

import requests

from tap_reviewrover.deadline import Watchdog
from tap_reviewrover.errors import (
    BadResponseError,
    ConnectionFailedError,
    RetriableError,
    RetriesExhaustedError,
    ReviewRoverError,
    WaitTooLongError,
    transport_failure,
)
from tap_reviewrover.fetching import FetcherClosedError
from tap_reviewrover.pacing import Pacer
from tap_reviewrover.pages import FetchedPage
from tap_reviewrover.pause import SharedPause
from tap_reviewrover.records import GONE, NotJsonError, UnexpectedResponseError
from tap_reviewrover.session import (
    log_request_metric,
    read_body,
    request_url,
    send,
    settled,
)
from tap_reviewrover.statuses import Answer, judge
from tap_reviewrover.timestamps import parse_http_date
from tap_reviewrover.waits import (
    MAX_WAIT_SECONDS,
    Wait,
    exponential_wait,
    jitter,
    rate_limit_reset,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from tap_reviewrover.pages import PageKey, PartitionRequests, Settings
    from tap_reviewrover.records import DecodedPage, PageDecoder

#: How often a worker waiting for the walk to write out looks whether the walk
#: ended meanwhile (it then writes nothing more).
WRITE_OUT_CHECK_SECONDS = 0.05


def wait_before_retry(seconds: float, cancelled: threading.Event) -> None:
    """Wait ``seconds``, or until ``cancelled`` is set (tests replace this).

    Args:
        seconds: The wait.
        cancelled: Set when nobody waits for the request any more.
    """
    cancelled.wait(seconds)


class Requester:
    """Sends the requests of one stream's sync (see the module doc).

    Attributes:
        pause: The pause every try waits on while another waits to retry.
        pacer: Spaces the requests to the API's rate limit.
        before_long_wait: Has the records read so far written out, then calls
            the function it is given (both in the thread that walks: the
            stream's ``walker.post``). Before any wait longer than a pacer's
            step the requester waits until they are out.
    """

    def __init__(  # noqa: PLR0913 - each is one part the requester owns
        self,
        session: requests.Session,
        decoder: PageDecoder,
        settings: Settings,
        *,
        where: str,
        logger: logging.Logger,
        stream_name: str,
    ) -> None:
        """Set the session up; nothing is sent yet.

        Args:
            session: The SDK's session for the stream.
            decoder: Decodes and checks a list's body.
            settings: The settings to follow.
            where: The list's URL, for messages.
            logger: The stream's logger.
            stream_name: The stream, for the request metric.
        """
        self.pause = SharedPause()
        self.pacer = Pacer(max_rate=settings.max_rate)
        self.before_long_wait: Callable[[Callable[[], None]], None] | None = None
        self._settings = settings
        self._decoder = decoder
        self._where = where
        self._logger = logger
        self._stream_name = stream_name
        self._watchdog = Watchdog()
        self._lock = threading.Lock()
        self._stop_before_next: ReviewRoverError | None = None
        self._write_out_before_next = False
        self.session = settled(session, where)

    @property
    def retries(self) -> int:
        """Failed tries that were retried so far."""
        return self.pause.retries

    def fetch(
        self, pages: PartitionRequests, key: PageKey, cancelled: threading.Event
    ) -> FetchedPage:
        """Read one page, retrying what another try may fix.

        Args:
            pages: How the partition's pages are asked for.
            key: The page: its number and size.
            cancelled: Set once nobody waits for the page any more (the walk
                ended or failed): no retry waits for nothing.

        Returns:
            The page.

        Raises:
            FetcherClosedError: If ``cancelled`` was set.
            WaitTooLongError: If the API asked to wait longer than the tap waits.
            RetriesExhaustedError: If the tries ran out.
            ConnectionFailedError: If the failure is one no retry fixes.
        """
        what = f"page {key[0]}"
        where = f"{what} of {self._where}"
        query = pages.query(key)
        return self._retrying(
            lambda: self._try(pages, (pages.url, query), key, (what, where)),
            what,
            where,
            cancelled,
        )

    def retrieve(
        self, pages: PartitionRequests, record_id: int, cancelled: threading.Event
    ) -> FetchedPage:
        """Read one record, ``GET {list}/{id}``, with every rule of :meth:`fetch`.

        Args:
            pages: How the partition's pages are asked for (its filters are not
                sent: the id names the record).
            record_id: The record's id.
            cancelled: As for :meth:`fetch`.

        Returns:
            A page of the record (number: its id, limit 1); of no record when
            the API answered 404: the list answered a moment ago at the same
            ``api_url``, so the record was deleted. Failures stop the sync as
            :meth:`fetch`'s do.
        """
        what = f"record {record_id} of {self._stream_name}"
        where = f"{what} at {self._where}/{record_id}"
        url: tuple[str, dict[str, t.Any]] = (f"{pages.url}/{record_id}", {})
        return self._retrying(
            lambda: self._try(pages, url, (record_id, 1), (what, where), one=True),
            what,
            where,
            cancelled,
        )

    def _retrying(
        self,
        attempt: Callable[[], FetchedPage],
        what: str,
        where: str,
        cancelled: threading.Event,
    ) -> FetchedPage:
        """Try ``attempt`` until it succeeds, or a failure stops the sync."""
        failures = 0
        while True:
            self.pause.wait_for_the_others(cancelled)
            if cancelled.is_set():
                raise FetcherClosedError
            with self._lock:
                if self._stop_before_next is not None:
                    raise self._stop_before_next
                write_out, self._write_out_before_next = (
                    self._write_out_before_next,
                    False,
                )
            if write_out:
                # The pacer holds this request: the page whose headers asked for
                # the hold was handed to the walk before this request began.
                self._write_out_what_was_read(cancelled)
            self.pacer.wait_turn(cancelled)
            if cancelled.is_set():
                raise FetcherClosedError
            try:
                page = attempt()
            except RetriableError as failure:
                if cancelled.is_set():
                    raise FetcherClosedError from None  # cut: nobody waits for it
                failures += 1
                self._after_failure(failure, failures, where, what, cancelled)
                continue
            self.pacer.succeeded()
            return page

    def interrupt(self) -> None:
        """Cut the requests in flight: the walk that asked for them has ended."""
        self._watchdog.cut_all()

    def _try(
        self,
        pages: PartitionRequests,
        url: tuple[str, Mapping[str, t.Any]],
        key: PageKey,
        names: tuple[str, str],
        *,
        one: bool = False,
    ) -> FetchedPage:
        what, where = names
        prepared = pages.template.copy()
        prepared.url = request_url(*url)
        timeout = self._settings.timeout
        sent = time.monotonic()
        try:
            with self._watchdog.watch(timeout):
                # A redirect is an error (statuses.judge), never followed.
                response = send(self.session, prepared, timeout=timeout)
                with response:
                    limit = self._settings.max_response_bytes
                    body = read_body(response, limit=limit, where=where)
            answered = time.monotonic()  # the API's time, not the decode's after it
        except requests.exceptions.RequestException as exc:
            reason, retriable = transport_failure(exc, timeout=timeout, url=self._where)
            if not retriable:
                msg = f"Could not request {where}: {reason}."
                raise ConnectionFailedError(msg) from None
            raise RetriableError(reason) from None
        received_at = dt.datetime.now(dt.timezone.utc)
        api_clock = parse_http_date(response.headers.get("Date"))
        log_request_metric(
            response,
            stream_name=self._stream_name,
            endpoint=self._where,
            context=pages.context,
        )
        answer = Answer(
            response.status_code,
            response.reason,
            response.headers,
            body,
            prepared.path_url,
        )
        gone = one and answer.status == requests.codes.not_found
        if not gone:
            now = api_clock or received_at
            judge(answer, now=now, where=self._where, params=url[1])
        page = GONE if gone else self._decode(answer, what, one=one)
        self._after_success(answer, (api_clock or received_at).timestamp())
        return FetchedPage(
            number=key[0],
            limit=key[1],
            records=page.records,
            pagination=page.pagination,
            unknown_fields=page.unknown_fields,
            api_clock=api_clock,
            received_at=received_at,
            seconds=answered - sent,
            repairs=page.repairs,
        )

    def _decode(self, answer: Answer, what: str, *, one: bool) -> DecodedPage:
        try:
            if one:
                return self._decoder.decode_one(answer.body)
            return self._decoder.decode(answer.body)
        except NotJsonError:
            content_type = answer.headers.get("Content-Type", "no content type")
            reason = (
                f"the API answered {answer.status} with a body that is not JSON "
                f"({content_type}, {len(answer.body)} bytes)"
            )
            raise RetriableError(reason) from None
        except UnexpectedResponseError as exc:
            msg = f"Unexpected answer from ReviewRover for {what}: {exc}."
            raise BadResponseError(msg) from None

    def _after_success(self, answer: Answer, now_epoch: float) -> None:
        """Heed rate-limit headers that say no request is left for now."""
        wait = rate_limit_reset(answer.headers, now_epoch=now_epoch)
        if wait is None:
            return
        if wait.paced:
            self.pacer.none_left(wait.seconds)  # learn the rate before a 429
            return
        if wait.too_long:
            # Only a next request would have to wait: the sync stops before it.
            msg = f"ReviewRover says no request is left for now: {_too_long(wait)}"
            with self._lock:
                self._stop_before_next = WaitTooLongError(msg)
            return
        self._logger.warning(
            "ReviewRover says no request is left for now (%s): every request "
            "waits %.0f s.",
            wait.cause,
            wait.seconds,
        )
        self.pacer.hold_until(wait.seconds)
        with self._lock:
            self._write_out_before_next = True

    def _after_failure(
        self,
        failure: RetriableError,
        failures: int,
        where: str,
        what: str,
        cancelled: threading.Event,
    ) -> None:
        """Decide what a failed try costs: a wait, or the end of the sync."""
        wait = failure.wait
        if wait is not None and wait.too_long:
            msg = f"ReviewRover answered {failure.reason} for {where}: " + _too_long(
                wait
            )
            raise WaitTooLongError(msg)
        tries = self._settings.max_retries + 1
        if failures >= tries:
            msg = (
                f"Gave up on {where} after {failures} tries; the last one failed "
                f"with: {failure.reason}"
            )
            raise RetriesExhaustedError(msg)
        if failure.rate_limited and self.pacer.refused(wait.seconds if wait else None):
            # A per-second limit: the pacer's slower pace spaces the retry.
            self.pause.count_retry()
            self._logger.info(
                "Request for %s refused by ReviewRover's rate limit (HTTP 429); "
                "slowing down to %.1f requests a second (try %d of %d next).",
                what,
                self.pacer.rate or 0.0,
                failures + 1,
                tries,
            )
            return
        seconds = wait.seconds if wait else exponential_wait(failures, rand=jitter)
        self.pause.hold()  # no other request starts meanwhile; counts the retry
        try:
            asked = f", as {wait.cause} asked" if wait else ""
            line = (
                f"Request for {what} failed ({failure.reason}); retrying in "
                f"{seconds:.1f} s{asked} (try {failures + 1} of {tries})."
            )
            self._logger.warning("%s", line)
            if wait is not None and not wait.paced:
                self._write_out_what_was_read(cancelled)
            wait_before_retry(seconds, cancelled)
        finally:
            self.pause.release()

    def _write_out_what_was_read(self, cancelled: threading.Event) -> None:
        """Before a long wait: return once the records read so far are written out.

        The walk writes them, between two answers; if the walk ends meanwhile
        (``cancelled``), nobody waits for this request any more.
        """
        if self.before_long_wait is None:
            return
        written = threading.Event()
        self.before_long_wait(written.set)
        while not written.wait(WRITE_OUT_CHECK_SECONDS):
            if cancelled.is_set():
                return


def _too_long(wait: Wait) -> str:
    return (
        f"it asked to wait {wait.seconds:.0f} s before the next request "
        f"({wait.cause}), more than the {MAX_WAIT_SECONDS:.0f} s the tap waits. "
        "Run the sync later."
    )
