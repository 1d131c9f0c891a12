"""HTTP for the ReviewRover API: auth, the page walk, errors and retries."""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from functools import cached_property
from importlib import metadata
from typing import TypeAlias

import msgspec
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_reviewrover.errors import (
    BadResponseError,
    RequestRejectedError,
    RetriesExhaustedError,
    ReviewRoverError,
    TokenRejectedError,
    WrongApiUrlError,
    api_error_message,
)
from tap_reviewrover.fetching import FetcherClosedError, PageFetcher, SharedPause
from tap_reviewrover.output import SingerOutput
from tap_reviewrover.paging import (
    Page,
    PageWalk,
    PaginationError,
    UnexpectedResponseError,
)
from tap_reviewrover.retry import parse_retry_after, wait_times
from tap_reviewrover.timestamps import parse_http_date

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from backoff.types import Details
    from singer_sdk.helpers.types import Context

#: A page, and the API's clock when it answered.
FetchResult: TypeAlias = "tuple[Page, dt.datetime | None]"
#: One try at reading one page.
FetchPage: TypeAlias = "Callable[[Context | None, int], FetchResult]"

#: What the SDK's request_decorator retries (so what remains once it gives up).
RETRIED_ERRORS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class ReviewRoverStream(RESTStream[int]):
    """Base stream for ReviewRover's paginated list endpoints."""

    #: Counted over the whole sync, for the summary line.
    records_emitted = 0
    pages_read = 0
    retries = 0
    drift_rereads = 0
    _first_request_at: float | None = None
    _shared_pause: SharedPause | None = None  # the current walk's

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @cached_property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["auth_token"])

    @cached_property
    @override
    def user_agent(self) -> str:
        default = f"tap-reviewrover/{metadata.version('tap-reviewrover')}"
        return str(self.config.get("user_agent") or default)

    @property
    def max_workers(self) -> int:
        """Requests in flight at most (the ``max_concurrent_requests`` setting)."""
        return int(self.config.get("max_concurrent_requests", 1))

    @property
    @override
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        if session.trust_env:
            # requests would look up proxy variables and ~/.netrc on every request
            # (a tenth of the tap's CPU); settle the proxy for the API's host once.
            # The token goes in a header, so .netrc never applied anyway.
            session.proxies.update(requests.utils.get_environ_proxies(self.url_base))
            session.trust_env = False
            # Room for every worker's connection, so that none is re-opened.
            pool = max(10, self.max_workers)
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        return session

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    @property
    @override
    def timeout(self) -> int:
        # The SDK types this as int, but requests takes any number of seconds.
        return t.cast("int", self.config["request_timeout"])

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,
    ) -> dict[str, t.Any]:
        return {"page": next_page_token or 1, "limit": self.config["page_size"]}

    # --- The page walk -------------------------------------------------------

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read every page of the list, recovering from changes made meanwhile.

        Overrides the SDK's page loop, which stops at the first empty page and
        cannot go back: when enrollments are deleted during a sync, records slide
        up onto pages already read, and the walk must read those pages again (see
        :mod:`tap_reviewrover.paging`).

        Args:
            context: The partition (``{"campaign_id": ...}``) or None.

        Yields:
            Each enrollment once, in API order.

        Raises:
            BadResponseError: If the API's pagination cannot be walked safely.
        """
        if self._first_request_at is None:
            self._first_request_at = time.monotonic()
        walk = PageWalk()
        pause = self._shared_pause = SharedPause()

        def one_try(context: Context | None, number: int) -> FetchResult:
            pause.release()  # this thread's own wait, if any, is over
            if fetcher.closed.is_set():
                raise FetcherClosedError
            pause.wait_for_the_others()
            return self._fetch_page(context, number)

        # The SDK types request_decorator for its own request function; it wraps
        # any callable with the retry policy below.
        retried: FetchPage = self.request_decorator(one_try)  # type: ignore[arg-type,assignment]

        def fetch(number: int) -> FetchResult:
            try:
                return self._fetch_with_retries(retried, context, number)
            finally:
                pause.release()

        workers = self.max_workers
        # Pages requested ahead: twice the workers, so that none idles while a
        # page is emitted; one by one, each page only after the last was emitted.
        ahead = 2 * workers if workers > 1 else 1
        api_clock_at_start: dt.datetime | None = None
        _ = self.requests_session, self.authenticator  # created before the workers
        with (
            self.get_http_request_counter() as request_counter,
            PageFetcher(fetch, workers=workers) as fetcher,
        ):
            request_counter.with_context(context)
            while (number := walk.next_page) is not None:
                # Once page 1 has told how many there are, later pages are
                # requested ahead; the walk still takes them in page order.
                fetcher.request(walk.pages_ahead(ahead), walk.epoch)
                page, api_clock = fetcher.take(number, walk.epoch)
                request_counter.increment()
                self.pages_read += 1
                if walk.requests == 0:
                    api_clock_at_start = api_clock
                try:
                    new_records = walk.accept(page)
                except PaginationError as exc:
                    msg = f"Cannot read ReviewRover's enrollment list safely: {exc}."
                    raise BadResponseError(msg) from None
                yield from new_records
                self._page_emitted()
        self.retries += pause.retries
        # Pages fetched ahead of a change in the list were fetched again.
        self.pages_read += fetcher.discarded
        self.drift_rereads += walk.drift_rereads + fetcher.discarded
        if walk.drift_rereads:
            self.logger.info(
                "The list changed during the sync: %d page(s) read again so that "
                "no enrollment was skipped.",
                walk.drift_rereads,
            )
        self.walk_finished(context, api_clock_at_start)

    @override
    def log_sync_costs(self) -> None:
        # The SDK calls this once, when every stream is done: one summary line.
        started = self._first_request_at
        seconds = time.monotonic() - started if started is not None else 0.0
        self.logger.info(
            "Sync of '%s' done: %d records emitted, %d pages read, %d retries, "
            "%d drift re-reads, %.1f s.",
            self.name,
            self.records_emitted,
            self.pages_read,
            self.retries,
            self.drift_rereads,
            seconds,
        )

    def _page_emitted(self) -> None:
        # Records leave in blocks (see SingerOutput); a whole page, at least, goes
        # out as soon as it is emitted.
        writer = self._tap.message_writer
        if isinstance(writer, SingerOutput):
            writer.flush()

    def walk_finished(
        self,
        context: Context | None,
        api_clock_at_start: dt.datetime | None,
    ) -> None:
        """Hook called once every page of a partition was read and emitted.

        Args:
            context: The partition, or None.
            api_clock_at_start: The ``Date`` of the walk's first response.
        """

    def _fetch_with_retries(
        self,
        fetch: FetchPage,
        context: Context | None,
        number: int,
    ) -> tuple[Page, dt.datetime | None]:
        where = f"page {number} of {self.url_base}{self.path}"
        try:
            return fetch(context, number)
        except RETRIED_ERRORS as exc:
            msg = (
                f"Gave up on {where} after {self.backoff_max_tries()} tries; the "
                f"last one failed with: {describe_failure(exc, timeout=self.timeout)}"
            )
            raise RetriesExhaustedError(msg) from None
        except requests.exceptions.RequestException as exc:
            msg = f"Could not request {where}: {exc}"
            raise ReviewRoverError(msg) from None

    def _fetch_page(
        self,
        context: Context | None,
        number: int,
    ) -> tuple[Page, dt.datetime | None]:
        """Request one page and read it; one try (retries wrap this).

        Args:
            context: The partition, or None.
            number: The page to read.

        Returns:
            The page, and the API's clock (``Date`` header) when it answered.

        Raises:
            RetriableAPIError: If the body is not JSON (a truncated body, or an
                HTML page from a proxy).
            BadResponseError: If the JSON lacks the documented fields.
        """
        request = self.get_http_request(
            page=PageContext(stream_context=context, next_page_token=number),
        )
        prepared = self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )
        response = self._request(prepared, context)
        try:
            # msgspec (the SDK's fast JSON) decodes a page about twice as fast.
            payload = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            content_type = response.headers.get("Content-Type", "no content type")
            msg = (
                f"page {number}: the API answered {response.status_code} with a body "
                f"that is not JSON ({content_type}, {len(response.content)} bytes)"
            )
            raise RetriableAPIError(msg, response) from None
        try:
            page = Page.from_payload(number, payload)
        except UnexpectedResponseError as exc:
            msg = f"Unexpected answer from ReviewRover for page {number}: {exc}."
            raise BadResponseError(msg) from None
        return page, parse_http_date(response.headers.get("Date"))

    # --- Errors and retries -----------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < requests.codes.bad_request:
            return
        if (
            status == requests.codes.too_many_requests
            or status >= requests.codes.internal_server_error
        ):
            raise RetriableAPIError(self.response_error_message(response), response)
        api_says = api_error_message(response)
        because = f": {api_says}" if api_says else ""
        if status in {requests.codes.unauthorized, requests.codes.forbidden}:
            msg = (
                f"ReviewRover rejected the API token (HTTP {status}{because}). "
                "Check the auth_token setting (or TAP_REVIEWROVER_AUTH_TOKEN)."
            )
            raise TokenRejectedError(msg)
        if status == requests.codes.not_found:
            msg = (
                f"ReviewRover answered 404 Not Found for {self.url_base}{self.path}: "
                "the api_url setting looks wrong (it should be the API root, "
                "such as https://dashboard.reviewrover.co/api)."
            )
            raise WrongApiUrlError(msg)
        msg = (
            f"ReviewRover refused the request (HTTP {status}{because}). "
            f"Request: GET {response.request.path_url}"
        )
        raise RequestRejectedError(msg)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        api_says = api_error_message(response)
        message = f"HTTP {response.status_code} {response.reason}"
        if api_says:
            message += f": {api_says}"
        return message

    @override
    def backoff_wait_generator(self) -> Generator[float, BaseException | None, None]:
        return wait_times(retry_after_of)

    @override
    def backoff_jitter(self, value: float) -> float:
        # The wait generator adds jitter itself, and none to a Retry-After wait.
        return value

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config["max_retries"]) + 1

    @override
    def backoff_handler(self, details: Details) -> None:
        # Called in the thread about to wait: no other request starts meanwhile.
        if self._shared_pause is not None:
            self._shared_pause.hold()  # counts the retry too
        exception = details.get("exception")
        reason = (
            describe_failure(exception, timeout=self.timeout)
            if isinstance(exception, BaseException)
            else "unknown error"
        )
        args = details.get("args") or ()
        page = args[-1] if args else "?"  # _fetch_page(context, number)
        self.logger.warning(
            "Request for page %s failed (%s); retrying in %.1f s (try %d of %d).",
            page,
            reason,
            details.get("wait") or 0.0,
            details["tries"] + 1,
            self.backoff_max_tries(),
        )


def retry_after_of(exception: BaseException) -> float | None:
    """The wait an error response asked for with ``Retry-After``, if any.

    Args:
        exception: The error of a failed try.

    Returns:
        Seconds, or None.
    """
    response = getattr(exception, "response", None)
    if not isinstance(response, requests.Response):
        return None
    # An HTTP-date Retry-After is read against the API's own clock when it sent one.
    sent_at = parse_http_date(response.headers.get("Date")) or dt.datetime.now(
        dt.timezone.utc,
    )
    return parse_retry_after(response.headers.get("Retry-After"), now=sent_at)


def describe_failure(exception: BaseException, *, timeout: float) -> str:
    """Say in a few words why a try failed.

    Args:
        exception: The error of a failed try.
        timeout: The request timeout in force, in seconds.

    Returns:
        A short description, free of URLs' credentials and headers.
    """
    if isinstance(exception, requests.exceptions.Timeout):
        return f"no answer within the {timeout:g} s request timeout"
    if isinstance(exception, requests.exceptions.ChunkedEncodingError):
        return "the connection closed before the whole body arrived"
    if isinstance(exception, (requests.exceptions.ConnectionError, ConnectionError)):
        return "the connection failed or was dropped"
    if isinstance(exception, RetriableAPIError):
        return str(exception)
    return f"{type(exception).__name__}: {exception}"
