"""The base of every ReviewRover list stream: a thin adapter to the Singer SDK.

ReviewRover's lists are paged by number (``page``, ``limit``, a ``pagination``
object with ``total`` and ``total_pages``), ordered newest-**created** first, and
cannot be filtered on the time of the last update. So every sync walks the list
(:mod:`tap_reviewrover.walkers`), emits the records updated since the bookmark
(:mod:`tap_reviewrover.bookmarks`), and moves the bookmark only once every page
was read. The parts, each in its own module: the requester owns every HTTP rule
(:mod:`tap_reviewrover.requester`), the walker the walk, the sink the fast RECORD
path (:mod:`tap_reviewrover.sink`), and :mod:`tap_reviewrover.versions` decides
ACTIVATE_VERSION. A stream over such a list only declares what differs (the class
attributes of :class:`ReviewRoverStream`, its schema and its partitions).
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from functools import cached_property, partial
from importlib import metadata
from operator import attrgetter

from singer_sdk import metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_reviewrover import bookmarks, sdk_compat, sink, versions
from tap_reviewrover.errors import CampaignNotFoundError, ReviewRoverError
from tap_reviewrover.records import PageDecoder, as_builtins
from tap_reviewrover.requester import PartitionRequests, Requester, Settings
from tap_reviewrover.timestamps import format_timestamp, parse_timestamp
from tap_reviewrover.walkers.full_scan import FullScan

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

    from tap_reviewrover.requester import FetchedPage, PageKey
    from tap_reviewrover.walkers.base import WalkResult


class ReviewRoverStream(sdk_compat.NoRecordStateIncrement, RESTStream["PageKey"]):
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
    drift_rereads = 0
    inconsistent_rereads = 0
    _started: float | None = None
    _version: int | None = None
    _missing: tuple[CampaignNotFoundError, ...] = ()
    _record_counter: metrics.Counter | None = None

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        # A failure is one error line, the tap's own (tap_reviewrover.cli.main).
        sdk_compat.NoUnhandledErrorLine.install(self.logger)

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
    @override
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: PageKey | None
    ) -> dict[str, t.Any]:
        # Pure, and called from worker threads: the partition's filters (the API
        # filters its lists by them, such as campaign_id), the page and its size.
        number, limit = next_page_token or (1, self.config["page_size"])
        return {**(context or {}), "page": number, "limit": limit}

    @cached_property
    def requester(self) -> Requester:
        """Sends this stream's requests; built before any worker thread starts."""
        schema = dict(self.schema)
        # The walk cannot place a record without its creation time and id, nor
        # the filter judge one without the time of its last change.
        required = {*self.primary_keys, self.created_key, self.replication_key or ""}
        schema["required"] = sorted({*schema.get("required", ()), *required} - {""})
        settings = Settings(
            timeout=float(self.config["request_timeout"]),
            max_retries=int(self.config["max_retries"]),
            max_response_bytes=int(self.config["max_response_megabytes"] * 2**20),
            max_rate=self.config.get("max_requests_per_second"),
        )
        return Requester(
            self.requests_session,
            PageDecoder(self.name, self.records_key, schema),
            settings,
            where=f"{self.url_base}{self.path}",
            logger=self.logger,
            stream_name=self.name,
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Walk the partition, emit what changed, then move the bookmark.

        Records are written by the sink a page at a time when the output is the
        plain record, and yielded to the SDK's own path otherwise.

        Args:
            context: The partition (such as ``{"campaign_id": ...}``) or None.

        Yields:
            The records, as dicts, when the SDK must write them.
        """
        self._before_the_first_partition()
        requester, fast = self.requester, not sink.refusals(self, context)
        request = self.get_http_request(page=PageContext(context, None))
        pages = PartitionRequests(
            template=self.build_prepared_request(
                method=request.method, url=request.url, headers=request.headers
            ),
            url=request.url,
            params=partial(self.get_url_params, context),
            context=context,
        )
        walker = FullScan(
            partial(requester.fetch, pages),
            page_size=int(self.config["page_size"]),
            workers=int(self.config["max_concurrent_requests"]),
            keys=(self.primary_keys[0], self.created_key, self.replication_key),
            partition=context,
            names=(self.name, f"{self.url_base}{self.path}"),
            logger=self.logger,
        )
        # Before a long wait, what was read goes out to the target first.
        requester.on_long_wait = lambda _: walker.post(self._sink.write_out)
        window: list[bookmarks.Window] = []
        start: list[dt.datetime | None] = []
        updated = attrgetter(self.replication_key)
        try:
            with self.get_http_request_counter() as request_counter:
                request_counter.with_context(context)
                for taken in walker.pages(partial(self._first, context, window, start)):
                    request_counter.increment()
                    records = window[0].wanted(taken.records, updated)
                    if fast:
                        self._sink.write(
                            records,
                            version=self._version,
                            time_extracted=taken.fetched.received_at,
                        )
                        self._count_written(len(records))
                    else:
                        yield from as_builtins(records)
        except CampaignNotFoundError as missing:
            self._missing = (*self._missing, missing)
        finally:
            self._sink.write_out()
            self._add_up(walker.result)
        if walker.result.whole:
            self._finish(context, start[0] if start else None, walker.result.total)
        self._after_the_last_partition(context)

    def _first(
        self,
        context: Context | None,
        window: list[bookmarks.Window],
        start: list[dt.datetime | None],
        first: FetchedPage,
    ) -> None:
        """What the walk's first answer settles: the sync's start, what to emit."""
        clock, warning = bookmarks.sync_start(first.api_clock, first.received_at)
        if warning:
            self.logger.warning("%s", warning)
        start.append(clock)
        if context and first.pagination.total == 0:
            self.logger.warning(
                "ReviewRover has no %s for %s: check that setting.",
                self.name,
                ", ".join(f"{key} {value!r}" for key, value in context.items()),
            )
        if self.replication_method != "INCREMENTAL":
            window.append(bookmarks.Window())
            return
        text = self.get_context_state(context).get("replication_key_value")
        found, set_aside = bookmarks.emit_window(
            bookmark=parse_timestamp(text) if text else None,
            start_date=_moment(self.config.get("start_date")),
            end_date=_moment(self.config.get("end_date")),
            lookback=dt.timedelta(seconds=int(self.config["lookback_seconds"])),
            clocks=(first.api_clock, first.received_at),
        )
        window.append(found)
        if set_aside:
            self.logger.warning(
                "The bookmark%s, %s, is later than ReviewRover's clock or this "
                "host's: a clock went back, or the state was edited, and it would "
                "hide updates made since. Reading from %s instead.",
                f" for {dict(context)}" if context else "",
                text,
                f"start_date ({self.config['start_date']})"
                if self.config.get("start_date")
                else "the beginning",
            )

    def _finish(
        self, context: Context | None, start: dt.datetime | None, copied: int
    ) -> None:
        """Every page was read: move the bookmark, or activate the whole copy."""
        if self.replication_method == "INCREMENTAL":
            if (bookmark := bookmarks.next_bookmark(start)) is not None:
                state = self.get_context_state(context)
                state["replication_key"] = self.replication_key
                state["replication_key_value"] = format_timestamp(bookmark)
                self.state_manager.is_flushed = False
            return
        if self._version is None or self.partitions:
            return  # no versions, or a subset copied with them off
        state = self.stream_state
        decision = versions.activation(
            version=self._version,
            copied=copied,
            last_copy=state.get(versions.STATE_KEY),
            max_shrink=float(self.config["full_table_max_shrink"]),
            grace_seconds=int(self.config["activate_version_grace_hours"] * 3600),
        )
        if decision.problem:
            raise ReviewRoverError(decision.problem)
        if decision.version is not None:
            sdk_compat.activate_version(self, decision.version)
            state[versions.STATE_KEY] = versions.copy_record(self._version, copied)
            self.state_manager.is_flushed = False

    def _before_the_first_partition(self) -> None:
        if self._started is not None:
            return
        self._started = time.monotonic()
        full_table = self.replication_method == "FULL_TABLE"
        on = bool(self.config.get("emit_activate_version_messages", True))
        if problem := versions.subset_problem(
            full_table=full_table, versions_on=on, partitions=len(self.partitions or ())
        ):
            raise ReviewRoverError(problem)
        if on and self.get_batch_config(self.config):
            if full_table:  # a BATCH message may follow the last record
                self.logger.warning(
                    "ACTIVATE_VERSION is not sent in batch mode: rows deleted in "
                    "ReviewRover stay in the target."
                )
        elif on:
            # Every record carries it, incremental ones too: a target retires rows
            # older than an activated version, and some (Snowflake) never retire
            # a row that has no version at all.
            self._version = sdk_compat.sync_version(self)
            sdk_compat.set_record_version(self, self._version)

    def _after_the_last_partition(self, context: Context | None) -> None:
        if self._missing and (not self.partitions or context == self.partitions[-1]):
            lines = " ".join(str(missing) for missing in self._missing)
            raise ReviewRoverError(lines)

    @cached_property
    def _sink(self) -> sink.RecordSink:
        return sink.RecordSink(self)

    def _count_written(self, count: int) -> None:
        self.records_emitted += count
        if count and self._record_counter is not None:
            self._record_counter.increment(count)
        self.state_manager.is_flushed = False

    def _add_up(self, result: WalkResult) -> None:
        self.pages_read += result.pages
        self.drift_rereads += result.drift_rereads
        self.inconsistent_rereads += result.inconsistent_rereads
        for note in result.notes:
            self.logger.info("%s", note)

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
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
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # No child streams: skip the SDK's per-record context and its copy.
        return ()

    @override
    def log_sync_costs(self) -> None:
        # The SDK calls this once, when every stream is done: one summary line.
        seconds = time.monotonic() - self._started if self._started else 0.0
        self.logger.info(
            "Sync of '%s' done: %d records emitted, %d pages read, %d retries, "
            "%d drift re-reads, %d inconsistent pages re-read, %.2f s.",
            self.name,
            self.records_emitted,
            self.pages_read,
            self.requester.retries,
            self.drift_rereads,
            self.inconsistent_rereads,
            seconds,
        )

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The SDK's default ceiling is the tap host's clock; _finish sets the
        # bookmark from the sync's start, which no record can be ahead of.
        return None

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # The SDK would send ACTIVATE_VERSION before the first record, and a target
        # retires every older row as soon as it reads it: a FULL_TABLE sync that
        # failed half-way would leave the table empty. _finish sends it after the
        # last record of a whole copy instead (see versions.py).
        return False


def _moment(text: object) -> dt.datetime | None:
    return parse_timestamp(text) if isinstance(text, str) and text else None
