"""The base of every ReviewRover list stream.

It holds the HTTP, the checked page walk, the client-side incremental filter and
the bookmark on the API's clock.

ReviewRover's lists are paged by number (``page``, ``limit``, a ``pagination``
object with ``total`` and ``total_pages``), ordered newest-**created** first, and
cannot be filtered on the time of the last update. So every sync reads every
page, keeps the records updated since the bookmark, and moves the bookmark only
once every page was read, to the moment the sync started on the API's clock. A
stream over such a list only declares what differs (:class:`ReviewRoverStream`'s
class attributes, its schema and its partitions); see ``streams.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import typing as t
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from operator import attrgetter

import requests
from singer_sdk import metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_reviewrover import sdk_compat
from tap_reviewrover.deadline import DeadlineAdapter, Watchdog
from tap_reviewrover.errors import (
    BadResponseError,
    RateLimitedError,
    RequestRejectedError,
    RetryAfterTooLongError,
    TokenRejectedError,
    WrongApiUrlError,
    api_error_message,
    describe_failure,
)
from tap_reviewrover.fetching import FetcherClosedError, ReadAhead
from tap_reviewrover.output import EncodedRecords, EndOfRecords
from tap_reviewrover.pacing import Pacer, rate_limit_wait
from tap_reviewrover.pages import Attempt, FetchedPage, PageKey, PageReader
from tap_reviewrover.paging import Page, PageWalk, PaginationError
from tap_reviewrover.progress import Progress
from tap_reviewrover.records import (
    NotJsonError,
    PageDecoder,
    RecordLines,
    UnexpectedResponseError,
    as_builtins,
)
from tap_reviewrover.retry import MAX_RETRY_AFTER_SECONDS, parse_retry_after, wait_times
from tap_reviewrover.timestamps import (
    BOOKMARK_SAFETY_MARGIN,
    MAX_CLOCK_SKEW,
    format_timestamp,
    incremental_start,
    microseconds_since_epoch,
    next_bookmark,
    parse_http_date,
    parse_timestamp,
    trusted_api_clock,
)

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from backoff.types import Details
    from singer_sdk.helpers.types import Context


class ReviewRoverStream(sdk_compat.NoRecordStateIncrement, RESTStream[PageKey]):
    """A paged, newest-created-first ReviewRover list (see the module doc).

    A subclass declares ``name``, ``path``, ``records_key``, ``schema``,
    ``primary_keys`` and, if they differ from the defaults, ``created_key`` and
    ``replication_key``. Each partition's keys are sent as URL parameters (the
    API filters on them), and each partition has its own bookmark.
    """

    #: The key of the record list in the JSON body, such as ``"enrollments"``.
    records_key: t.ClassVar[str]
    #: The field the list is ordered by, newest first.
    created_key: t.ClassVar[str] = "created_at"
    #: The field of the last change: the incremental bookmark.
    replication_key = "updated_at"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("id",)
    # is_sorted stays False: the API lists by creation, not by the last update.

    # Decoding a page checks every record against the schema (records.py), so
    # the SDK's per-field conformance has nothing left to do.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    #: Counted over the whole sync, for the summary line.
    records_emitted = 0
    pages_read = 0
    retries = 0
    drift_rereads = 0
    inconsistent_rereads = 0
    _first_request_at: float | None = None
    _record_counter: metrics.Counter | None = None
    #: The request every page's copies: its method and headers, and itself.
    _template: tuple[tuple[object, ...], requests.PreparedRequest] | None = None

    # --- Settings and HTTP -------------------------------------------------------

    @property
    @override
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @cached_property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        # A token read from a mounted secret file often ends in a newline.
        return BearerTokenAuthenticator(token=str(self.config["auth_token"]).strip())

    @cached_property
    @override
    def user_agent(self) -> str:
        default = f"tap-reviewrover/{metadata.version('tap-reviewrover')}"
        return str(self.config.get("user_agent") or default)

    @property
    def max_workers(self) -> int:
        """Requests in flight at most (the ``max_concurrent_requests`` setting)."""
        return int(self.config.get("max_concurrent_requests", 1))

    @cached_property
    @override
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        # requests would look up proxy variables and ~/.netrc on every request
        # (a tenth of the tap's CPU); settle the proxy for the API's host once.
        # The token goes in a header, so .netrc never applied anyway.
        session.proxies.update(requests.utils.get_environ_proxies(self.url_base))
        session.trust_env = False
        # Room for every worker's connection, so that none is re-opened, and
        # connections that a deadline on the whole response can cut.
        adapter = DeadlineAdapter(pool_maxsize=max(10, self.max_workers))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Refuse a redirect as soon as it arrives: requests reads its Location
        # even when it does not follow it, and fails on a bad one (a bad port)
        # with a bare ValueError.
        session.hooks["response"].append(self._refuse_redirect)
        return session

    def _refuse_redirect(
        self,
        response: requests.Response,
        *args: t.Any,  # noqa: ANN401, ARG002 - requests' hook arguments
        **kwargs: t.Any,  # noqa: ANN401, ARG002
    ) -> None:
        if response.is_redirect:
            self.validate_response(response)

    @cached_property
    def pacer(self) -> Pacer:
        """Spaces requests to the API's rate limit, learnt or set."""
        return Pacer(max_rate=self.config.get("max_requests_per_second"))

    @cached_property
    def watchdog(self) -> Watchdog:
        """Holds the deadline of every request in flight."""
        return Watchdog()

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
        next_page_token: PageKey | None,
    ) -> dict[str, t.Any]:
        number, limit = next_page_token or (1, self.config["page_size"])
        # The API filters its lists by the partition's keys (such as campaign_id).
        return {**(context or {}), "page": number, "limit": limit}

    def describe_page(self, number: int) -> str:
        """Name a page in messages.

        Args:
            number: The page.

        Returns:
            Such as ``page 3 of https://.../api/v1/enrollments``.
        """
        return f"page {number} of {self.url_base}{self.path}"

    # --- One try at one page -----------------------------------------------------

    def fetch_page(
        self,
        context: Context | None,
        number: int,
        limit: int,
    ) -> FetchedPage:
        """Request one page and read it; one try (retries wrap this).

        Args:
            context: The partition, or None.
            number: The page to read.
            limit: The page size to ask for.

        Returns:
            The page.

        Raises:
            RetriableAPIError: If the body is not JSON (a truncated body, or an
                HTML page from a proxy).
        """
        request = self.get_http_request(
            page=PageContext(stream_context=context, next_page_token=(number, limit)),
        )
        prepared = self._prepare(request.method, request.url, request.headers)
        prepared.prepare_url(request.url, request.encode_params())
        seconds = self.timeout
        sent = time.monotonic()
        with self.watchdog.watch(seconds):
            response = self.requests_session.send(
                prepared,
                timeout=(seconds, seconds),
                allow_redirects=False,  # a redirect is an error (validate_response)
            )
        self._log_request_metric(response, context)
        self.validate_response(response)
        api_clock = parse_http_date(response.headers.get("Date"))
        received_at = dt.datetime.now(dt.timezone.utc)
        try:
            records, pagination, unknown = self.decode_page(response.content)
        except NotJsonError:
            content_type = response.headers.get("Content-Type", "no content type")
            msg = (
                f"page {number}: the API answered {response.status_code} with a "
                f"body that is not JSON ({content_type}, "
                f"{len(response.content)} bytes)"
            )
            raise RetriableAPIError(msg, response) from None
        except UnexpectedResponseError as exc:
            msg = f"Unexpected answer from ReviewRover for page {number}: {exc}."
            raise BadResponseError(msg) from None
        return FetchedPage(
            number=number,
            limit=limit,
            records=records,
            pagination=pagination,
            unknown_fields=unknown,
            api_clock=api_clock,
            received_at=received_at,
            rate_limit_wait=rate_limit_wait(
                response.headers,
                now_epoch=(api_clock or received_at).timestamp(),
            ),
            seconds=time.monotonic() - sent,
        )

    def _prepare(
        self, method: str, url: str, headers: dict[str, str]
    ) -> requests.PreparedRequest:
        """A prepared request with this method and headers (and the session's auth).

        Only the URL changes from page to page: the session's merging of headers,
        auth and cookies is done once (a tenth of the CPU of a page), and each
        page gets a copy with its own URL.
        """
        key = (method, tuple(headers.items()))
        if self._template is None or self._template[0] != key:
            prepared = self.build_prepared_request(
                method=method, url=url, headers=headers
            )
            self._template = (key, prepared)
        return self._template[1].copy()

    def decode_page(self, content: bytes) -> tuple[list[t.Any], t.Any, set[str]]:
        """Decode a list body and check it against the schema.

        Args:
            content: The response body.

        Returns:
            The records, the pagination object and the fields beyond the schema
            first seen on this page.
        """
        return self._decoder.decode(content)

    @cached_property
    def _decoder(self) -> PageDecoder:
        schema = dict(self.schema)
        # The walk cannot place a record without its creation time, nor the
        # filter judge one without the time of its last change.
        schema["required"] = sorted(
            {*schema.get("required", ()), *self.primary_keys, self.created_key}
            | ({self.replication_key} if self.replication_key else set())
        )
        return PageDecoder(self.name, self.records_key, schema)

    def _log_request_metric(
        self,
        response: requests.Response,
        context: Context | None,
    ) -> None:
        # One METRIC line per request only at DEBUG (the SDK logs it at INFO):
        # a sync of 200 pages would otherwise log 200 of them.
        logger = metrics.get_metrics_logger()
        if not logger.isEnabledFor(logging.DEBUG):
            return
        tags: dict[str, t.Any] = {
            metrics.Tag.STREAM: self.name,
            metrics.Tag.ENDPOINT: self.path,
            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
        }
        if context:
            tags[metrics.Tag.CONTEXT] = context
        point = metrics.Point(
            "timer",
            metric=metrics.Metric.HTTP_REQUEST_DURATION,
            value=response.elapsed.total_seconds(),
            tags=tags,
        )
        metrics.log(logger, point)

    # --- The walk ------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read every page of the list and emit the records to emit.

        Overrides the SDK's page loop, which stops at the first empty page, cannot
        go back, and trusts what the API says (see :mod:`tap_reviewrover.paging`).
        When the output is the plain record (no stream maps, every field
        selected), each page is written as one block of RECORD lines and nothing
        is yielded; otherwise the records go through the SDK's own path.

        Args:
            context: The partition (such as ``{"campaign_id": ...}``) or None.

        Yields:
            The records, as dicts, when the SDK must write them.

        Raises:
            BadResponseError: If the API's pagination cannot be walked safely.
        """
        if self._first_request_at is None:
            self._first_request_at = time.monotonic()
        version = self._table_version()
        writes_itself = self._writes_records_itself(context)
        walk: PageWalk[t.Any] = PageWalk(int(self.config["page_size"]))
        progress = Progress(self.logger, self.name, context)
        # Pages requested ahead of the walk, once responses are slow enough for
        # it to pay; one by one, each page only after the last was emitted.
        ahead = ReadAhead(self.max_workers)
        start: _Start | None = None
        _ = self.requests_session, self.authenticator  # created before the workers
        with (
            self.get_http_request_counter() as request_counter,
            PageReader(self, context, workers=self.max_workers) as reader,
            _flushed_at_the_end(self),
        ):
            request_counter.with_context(context)
            while (key := walk.next_request) is not None:
                # The walk takes the pages in page order, whatever was asked ahead.
                reader.request(walk.pages_ahead(ahead.pages), walk.epoch)
                fetched = reader.take(key, walk.epoch)
                ahead.answered_in(fetched.seconds)
                request_counter.increment()
                self.pages_read += 1
                start = start or self._start(context, fetched, walk)
                records = start.wanted(self._take(walk, fetched))
                if writes_itself:
                    self._write_records(records, version, fetched.received_at)
                else:
                    yield from as_builtins(records)
                progress.page_done(walk, fetched.pagination.total, len(records))
        self._count(walk, reader)
        self._walk_finished(context, start.clock if start else None)
        if version is not None and not self.is_incremental:
            self._activate_after_last_partition(context, version)

    def _start(
        self, context: Context | None, first: FetchedPage, walk: PageWalk[t.Any]
    ) -> _Start:
        """What the walk's first answer settles: the API's clock, what to emit."""
        clock = self._api_clock(first)
        walk.created_since_start = self._created_since(clock)
        if context and first.pagination.total == 0:
            self.logger.warning(
                "ReviewRover has no %s for %s: check that setting.",
                self.name,
                ", ".join(f"{key} {value!r}" for key, value in context.items()),
            )
        emit_from = self._emit_from(context, clock)
        return _Start(clock, emit_from, attrgetter(self.replication_key))

    def _count(self, walk: PageWalk[t.Any], reader: PageReader) -> None:
        """Add a finished walk's requests and re-reads to the sync's summary."""
        self.retries += reader.pause.retries
        # Pages fetched ahead of a change in the list were fetched again.
        self.pages_read += reader.discarded
        self.drift_rereads += walk.drift_rereads + reader.discarded
        self.inconsistent_rereads += walk.inconsistent_rereads
        if walk.drift_rereads:
            self.logger.info(
                "The list changed during the sync: %d page(s) read again so that "
                "no record was skipped.",
                walk.drift_rereads,
            )

    def _take(self, walk: PageWalk[t.Any], fetched: FetchedPage) -> list[t.Any]:
        """Hand a page to the walk, which checks it; return its new records."""
        if fetched.unknown_fields:
            self.logger.warning(
                "ReviewRover sent fields the tap does not know yet, left out of "
                "the records: %s.",
                ", ".join(sorted(fetched.unknown_fields)),
            )
        records, pagination = fetched.records, fetched.pagination
        page = Page(
            number=fetched.number,
            limit=fetched.limit,
            records=records,
            created=list(map(self._created_of, records)),
            ids=list(map(self._id_of, records)),
            total=pagination.total,
            total_pages=pagination.total_pages,
            reported_number=pagination.page,
            reported_limit=pagination.limit,
            updated=self._versions_of(records),
        )
        adapted, restarts = walk.adapted, walk.restarts
        try:
            new_records = walk.accept(page)
        except PaginationError as exc:
            msg = (
                f"Cannot read ReviewRover's {self.name} list safely: {exc}. Nothing "
                "after the last complete sync was taken as read: the bookmark has "
                "not moved."
            )
            raise BadResponseError(msg) from None
        if walk.restarts != restarts:
            self.logger.warning(
                "ReviewRover's pages disagree (%s): reading the list again from page "
                "1. Records sent already are sent again only if changed since.",
                walk.restart_reason,
            )
        if walk.adapted != adapted and walk.adapted is not None:
            how, size = walk.adapted
            self.logger.warning(
                "ReviewRover serves at most %d %s a page (%s); reading pages of %d.",
                size,
                self.name,
                "it says so" if how == "declared" else "without saying so",
                size,
            )
        return new_records

    def _writes_records_itself(self, context: Context | None) -> bool:
        """Whether pages can be written as blocks: the output is the plain record.

        Stream maps, flattening, deselected fields, batch mode, a record limit
        (the SDK's dry runs) or partition keys the records lack all need the
        SDK's per-record path.
        """
        maps = self.stream_maps
        return (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and not maps[0].flattening_enabled
            and all(self.mask.values())
            and not self.get_batch_config(self.config)
            and self.ABORT_AT_RECORD_COUNT is None
            and set(context or {}) <= set(self.schema["properties"])
        )

    def _write_records(
        self,
        records: list[t.Any],
        version: int | None,
        received_at: dt.datetime,
    ) -> None:
        if not records:
            return
        block = self._record_lines.encode(
            records, version=version, time_extracted=received_at
        )
        sdk_compat.write_message(self, EncodedRecords(block, len(records)))
        self.records_emitted += len(records)
        if self._record_counter is not None:
            self._record_counter.increment(len(records))
        self.state_manager.is_flushed = False

    @cached_property
    def _created_of(self) -> t.Callable[[t.Any], t.Any]:
        return attrgetter(self.created_key)

    @cached_property
    def _id_of(self) -> t.Callable[[t.Any], t.Any]:
        return attrgetter(self.primary_keys[0])

    def _versions_of(self, records: list[t.Any]) -> list[int] | None:
        """Each record's replication key in microseconds, or None without one.

        The walk compares them to tell a newer copy of a record from an older one.
        """
        if not self.replication_key:
            return None
        updated = attrgetter(self.replication_key)
        return [microseconds_since_epoch(updated(record)) for record in records]

    @cached_property
    def _record_lines(self) -> RecordLines:
        return RecordLines(self.name)

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        # Only on the SDK's per-record path: the walk filtered the records already.
        self.records_emitted += 1
        return row

    @override
    def get_record_counter(
        self,
        *,
        endpoint: str | None = None,
        log_interval: float = metrics.DEFAULT_LOG_INTERVAL,
    ) -> metrics.Counter:
        # Pages written as blocks are counted here, a page at a time.
        counter = super().get_record_counter(
            endpoint=endpoint, log_interval=log_interval
        )
        self._record_counter = counter
        return counter

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[Context | None]:
        # No child streams: skip the SDK's per-record context and its copy.
        return ()

    @override
    def log_sync_costs(self) -> None:
        # The SDK calls this once, when every stream is done: one summary line.
        started = self._first_request_at
        seconds = time.monotonic() - started if started is not None else 0.0
        self.logger.info(
            "Sync of '%s' done: %d records emitted, %d pages read, %d retries, "
            "%d drift re-reads, %d inconsistent pages re-read, %.2f s.",
            self.name,
            self.records_emitted,
            self.pages_read,
            self.retries,
            self.drift_rereads,
            self.inconsistent_rereads,
            seconds,
        )

    # --- The clock, the incremental filter and the bookmark ------------------------

    @property
    def is_incremental(self) -> bool:
        """Whether this sync filters on the bookmark and moves it."""
        return self.replication_method == "INCREMENTAL"

    def _api_clock(self, page: FetchedPage) -> dt.datetime | None:
        """The API's clock when the sync started, if it can be believed."""
        clock = trusted_api_clock(page.api_clock, page.received_at)
        if clock is None:
            seen = (
                "sent no Date header"
                if page.api_clock is None
                else f"says it is {format_timestamp(page.api_clock)} while this host "
                f"says {format_timestamp(page.received_at)}, more than "
                f"{MAX_CLOCK_SKEW} apart"
            )
            self.logger.warning(
                "ReviewRover %s: its clock is not used for the bookmark, which "
                "stays where it was so that no update is missed.",
                seen,
            )
        return clock

    def _created_since(self, clock_at_start: dt.datetime | None) -> dt.datetime:
        """From when a record counts as created during the sync, for the walk."""
        if clock_at_start is not None:
            return clock_at_start - BOOKMARK_SAFETY_MARGIN
        return dt.datetime.now(dt.timezone.utc) - MAX_CLOCK_SKEW

    def _emit_from(
        self,
        context: Context | None,
        clock_at_start: dt.datetime | None,
    ) -> dt.datetime | None:
        """The first ``updated_at`` to emit on an incremental sync (None: all)."""
        if not self.is_incremental:
            return None
        bookmark_text = self.get_context_state(context).get("replication_key_value")
        bookmark = parse_timestamp(bookmark_text) if bookmark_text else None
        start_text = self.config.get("start_date")
        start_date = parse_timestamp(start_text) if start_text else None
        now = clock_at_start or dt.datetime.now(dt.timezone.utc) + MAX_CLOCK_SKEW
        since, set_aside = incremental_start(bookmark, start_date, now)
        if set_aside:
            self.logger.warning(
                "The bookmark%s, %s, is later than ReviewRover's clock now (%s): it "
                "cannot come from a sync that read the list, and would hide every "
                "update made since. Reading from %s instead.",
                f" for {dict(context)}" if context else "",
                bookmark_text,
                format_timestamp(now),
                f"start_date ({start_text})" if start_text else "the beginning",
            )
        return since

    def _walk_finished(
        self,
        context: Context | None,
        clock_at_start: dt.datetime | None,
    ) -> None:
        """Every page of a partition was read: move its bookmark, if incremental."""
        if not self.is_incremental:
            return
        bookmark = next_bookmark(clock_at_start)
        if bookmark is None:
            return  # the API's clock was missing or far off (warned already)
        value = format_timestamp(bookmark)
        # Every page was read, so every update before the sync started was seen:
        # the bookmark becomes that moment. The signpost caps the SDK's own
        # max-seen value (an update made during the sync can be newer) at it.
        self.state_manager.write_replication_key_signpost(value, context=context)
        self.state_manager.increment_state(
            {self.replication_key: value},
            context=context,
            replication_key=self.replication_key,
        )

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The SDK's default ceiling is the tap host's clock, which may be minutes
        # ahead of the API's; _walk_finished sets the ceiling from the API's clock.
        return None

    # --- FULL_TABLE versions ------------------------------------------------------

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # The SDK would send ACTIVATE_VERSION before the first record, and a target
        # retires every older row as soon as it reads it: a FULL_TABLE sync that
        # failed half-way would leave the table empty, or every row marked
        # deleted. get_records sends it after the last record instead.
        return False

    def _table_version(self) -> int | None:
        """The version every record of this sync carries, if versions are on."""
        if not self.config.get("emit_activate_version_messages", True):
            return None
        if self.get_batch_config(self.config):
            # A BATCH message can follow the last record; ACTIVATE_VERSION must not
            # come before it, and the SDK gives no hook after it.
            self.logger.warning(
                "ACTIVATE_VERSION is not sent in batch mode: rows deleted in "
                "ReviewRover stay in the target.",
            )
            return None
        # Every record carries it, incremental ones too: a target retires rows
        # older than an activated version, and some (Snowflake) never retire a
        # row that has no version at all.
        version = sdk_compat.sync_version(self)
        sdk_compat.set_record_version(self, version)
        return version

    def _activate_after_last_partition(
        self, context: Context | None, version: int
    ) -> None:
        partitions = self.partitions
        if not partitions or context == partitions[-1]:
            # Every record of this copy was written: the target may now retire
            # rows of older copies (records deleted in ReviewRover).
            sdk_compat.activate_version(self, version)

    # --- Errors and retries ----------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < requests.codes.multiple_choices:
            return
        if status == requests.codes.too_many_requests:
            wait = self._check_retry_after(response)
            message = self.response_error_message(response)
            raise RateLimitedError(message, response, wait)
        if status >= requests.codes.internal_server_error:
            self._check_retry_after(response)
            raise RetriableAPIError(self.response_error_message(response), response)
        api_says = api_error_message(response)
        because = f": {api_says}" if api_says else ""
        if status < requests.codes.bad_request:
            location = response.headers.get("Location", "nowhere")
            msg = (
                f"ReviewRover answered {status} {response.reason}, redirecting to "
                f"{location}; the tap does not follow redirects (they may leave "
                "https or drop the token). Set api_url to the API's real root."
            )
            raise WrongApiUrlError(msg)
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

    def _check_retry_after(self, response: requests.Response) -> float | None:
        wait = retry_after_of(response)
        if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
            msg = (
                f"ReviewRover answered {response.status_code} and asked to wait "
                f"{wait:.0f} s before the next request (Retry-After), more than the "
                f"{MAX_RETRY_AFTER_SECONDS:.0f} s the tap waits. Run the sync later."
            )
            raise RetryAfterTooLongError(msg)
        return wait

    @override
    def response_error_message(self, response: requests.Response) -> str:
        api_says = api_error_message(response)
        message = f"HTTP {response.status_code} {response.reason}"
        if api_says:
            message += f": {api_says}"
        return message

    @override
    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        # The SDK's retry policy, minus backoff's own log lines: backoff_handler
        # logs one clear line per retry.
        if not any(isinstance(f, sdk_compat.QuietBackoff) for f in self.logger.filters):
            self.logger.addFilter(sdk_compat.QuietBackoff())
        return super().request_decorator(func)

    @override
    def backoff_wait_generator(self) -> Generator[float, BaseException | None, None]:
        return wait_times(retry_after_of_exception)

    @override
    def backoff_jitter(self, value: float) -> float:
        # The wait generator adds jitter itself, and none to a Retry-After wait.
        return value

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config["max_retries"]) + 1

    @override
    def backoff_handler(self, details: Details) -> None:
        # Called in the thread about to wait; the PageReader passes the attempt
        # (its page, and the pause its walk shares) by name.
        attempt = t.cast("Attempt", details["kwargs"]["attempt"])
        if attempt.abandoned.is_set():
            raise FetcherClosedError  # the walk is over: do not wait to retry
        exception = details.get("exception")
        if isinstance(exception, RateLimitedError) and exception.paced:
            attempt.pause.count_retry()
            self.logger.warning(
                "Request for page %s refused by ReviewRover's rate limit (HTTP 429); "
                "slowing down to %.1f requests a second (try %d of %d next).",
                attempt.number,
                self.pacer.rate or 0.0,
                details["tries"] + 1,
                self.backoff_max_tries(),
            )
            return
        attempt.pause.hold()  # no other request starts meanwhile; counts the retry
        reason = (
            describe_failure(exception, timeout=self.timeout, url=self.url_base)
            if isinstance(exception, BaseException)
            else "unknown error"
        )
        self.logger.warning(
            "Request for page %s failed (%s); retrying in %.1f s (try %d of %d).",
            attempt.number,
            reason,
            details.get("wait") or 0.0,
            details["tries"] + 1,
            self.backoff_max_tries(),
        )


@dataclass(frozen=True)
class _Start:
    """What the first answer of a walk settled.

    Attributes:
        clock: The API's clock then, if it can be believed.
        emit_from: The first ``updated_at`` to emit; None: every record.
        updated: Reads a record's replication key.
    """

    clock: dt.datetime | None
    emit_from: dt.datetime | None
    updated: t.Callable[[t.Any], t.Any]

    def wanted(self, records: list[t.Any]) -> list[t.Any]:
        """The records to emit: updated at or after :attr:`emit_from`."""
        if self.emit_from is None:
            return records
        emit_from, updated = self.emit_from, self.updated
        return [record for record in records if updated(record) >= emit_from]


@contextlib.contextmanager
def _flushed_at_the_end(stream: ReviewRoverStream) -> Generator[None, None, None]:
    """Write out the records held once a walk ends, complete or not."""
    try:
        yield
    finally:
        sdk_compat.write_message(stream, EndOfRecords())


def retry_after_of(response: requests.Response) -> float | None:
    """The wait a response asked for with ``Retry-After``, if any.

    Args:
        response: An error response.

    Returns:
        Seconds, or None.
    """
    # An HTTP-date Retry-After is read against the API's own clock when it sent one.
    sent_at = parse_http_date(response.headers.get("Date")) or dt.datetime.now(
        dt.timezone.utc,
    )
    return parse_retry_after(response.headers.get("Retry-After"), now=sent_at)


def retry_after_of_exception(exception: BaseException) -> float | None:
    """The wait the response behind a failed try asked for, if any.

    Args:
        exception: The error of a failed try.

    Returns:
        Seconds, or None.
    """
    if isinstance(exception, RateLimitedError):
        # Read once already, when the 429 was checked; the pacer spaces a paced
        # retry itself (PageReader).
        return 0.0 if exception.paced else exception.retry_after
    response = getattr(exception, "response", None)
    if not isinstance(response, requests.Response):
        return None
    return retry_after_of(response)
