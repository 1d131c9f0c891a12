"""The base of every ReviewRover list stream: a thin adapter to the Singer SDK.

ReviewRover's lists are paged by number, ordered newest-**created** first, and
cannot be filtered on the time of the last update. The parts (see the README's
"How it works"): the requester owns every HTTP rule, a walker the walk, the
coordinator one partition's sync, the bookmark and version rules what to emit
and when rows may be retired, the sink the fast RECORD path. A stream over such
a list only declares what differs: :class:`ReviewRoverStream`'s class
attributes, its schema and its partitions.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import replace
from functools import cached_property, partial
from importlib import metadata

from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_reviewrover import bookmarks, sdk_compat, sink, versions
from tap_reviewrover.config_checks import catalog_problem
from tap_reviewrover.coordinator import PartitionSync
from tap_reviewrover.errors import CampaignNotFoundError, ReviewRoverError
from tap_reviewrover.pages import PartitionRequests, Settings
from tap_reviewrover.records import PageDecoder
from tap_reviewrover.requester import Requester
from tap_reviewrover.walkers import STRATEGIES, WalkPlan
from tap_reviewrover.walkers.base import Tally

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import metrics
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog

    from tap_reviewrover.pages import PageKey
    from tap_reviewrover.walkers.base import Walker


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
    # Decoding checks each record against the schema: no SDK conformance needed.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    _started: float | None = None
    _missing: tuple[CampaignNotFoundError, ...] = ()

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink, self._tally = sink.RecordSink(self), Tally()
        sdk_compat.NoUnhandledErrorLine.install(self.logger)  # one error line

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
        version = metadata.version("tap-reviewrover")
        return str(self.config.get("user_agent") or f"tap-reviewrover/{version}")

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: PageKey | None
    ) -> dict[str, t.Any]:
        # Pure, called from worker threads: the partition's filters (the API's,
        # such as campaign_id), the page and its size.
        number, limit = next_page_token or (1, self.config["page_size"])
        return {**(context or {}), "page": number, "limit": limit}

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        declared = (tuple(self.primary_keys), self.replication_key)  # before it
        super().apply_catalog(catalog)
        if problem := catalog_problem(
            self.name,
            fields=self.effective_schema.get("properties", {}),
            created_key=self.created_key,
            keys=(tuple(self.primary_keys), self.replication_key),
            declared=declared,
        ):
            raise ReviewRoverError(problem)

    @cached_property
    def requester(self) -> Requester:
        """Sends this stream's requests; built before any worker thread starts."""
        # The walk cannot place a record without its creation time and id, nor
        # the filter judge one without the time of its last change.
        required = (*self.primary_keys, self.created_key, self.replication_key)
        return Requester(
            self.requests_session,
            PageDecoder(self.name, self.records_key, self.schema, required=required),
            Settings.from_config(self.config),
            where=f"{self.url_base}{self.path}",
            logger=self.logger,
            stream_name=self.name,
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        # Walk, emit what changed (the sink writes plain records; they are yielded
        # only for the SDK's own path), move the bookmark, activate a whole copy.
        run = PartitionSync(
            walker=self._walker(context),
            bookmark=bookmarks.PartitionBookmark(
                self.get_context_state(context),
                self.replication_key,
                self.replication_method == "INCREMENTAL",
                self.config,
            ),
            versions=self._versions,
            sink=self._sink,
            fast=not sink.refusals(self, context),
            replication_key=self.replication_key,
            logger=self.logger,
            names=(self.name, context),
        )
        # Before a long wait, what was read goes out to the target first.
        self.requester.before_long_wait = run.write_out_then
        try:
            with self.get_http_request_counter() as request_counter:
                request_counter.with_context(context)
                yield from run.records(request_counter.increment)
            if (version := run.finish(self.stream_state, self.config)) is not None:
                sdk_compat.activate_version(self, version)
        except CampaignNotFoundError as missing:
            self._missing = (*self._missing, missing)  # named once all are done
        finally:
            self._tally.add(run.walker.result)
            self.state_manager.is_flushed = False
        if self._missing and (not self.partitions or context == self.partitions[-1]):
            raise ReviewRoverError(" ".join(map(str, self._missing)))

    def _walker(self, context: Context | None) -> Walker:
        requester = self.requester  # first: the template takes its session's hooks
        pages = PartitionRequests.of(self, context)
        plan = WalkPlan(
            fetch=partial(requester.fetch, pages),
            filtered=lambda more: partial(
                requester.fetch, replace(pages, filters=more)
            ),
            retrieve=partial(requester.retrieve, pages),
            page_size=int(self.config["page_size"]),
            workers=int(self.config["max_concurrent_requests"]),
            keys=(self.primary_keys[0], self.created_key, self.replication_key),
            partition=context,
            names=(self.name, f"{self.url_base}{self.path}"),
            logger=self.logger,
            state=self.get_context_state(context),
            settings=self.config,
            interrupt=requester.interrupt,
        )
        incremental = self.replication_method == "INCREMENTAL"
        strategy = self.config.get("incremental_strategy", "full_scan")
        return STRATEGIES[strategy if incremental else "full_scan"](plan)

    @cached_property
    def _versions(self) -> versions.VersionRules:
        """The sync's version rules, checked before its first request."""
        self._started = time.monotonic()
        rules = versions.VersionRules.for_sync(
            self.config,
            full_table=self.replication_method == "FULL_TABLE",
            batch=bool(self.get_batch_config(self.config)),
            partitions=len(self.partitions or ()),
            started_at=sdk_compat.sync_version(self),
        )
        if rules.problem:
            raise ReviewRoverError(rules.problem)
        if rules.warning:
            self.logger.warning("%s", rules.warning)
        if rules.version is not None:
            sdk_compat.set_record_version(self, rules.version)  # the SDK's path
        return rules

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        # Only on the SDK's per-record path: the walk filtered the records already.
        self._sink.written += 1
        return row

    @override
    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        # Pages written as blocks are counted here, a page at a time.
        self._sink.counter = super().get_record_counter(**kwargs)
        return self._sink.counter

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
        records, retries = self._sink.written, self.requester.retries
        line = self._tally.summary(self.name, records, retries, seconds)
        self.logger.info("%s", line)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The SDK's ceiling is the host's clock; see bookmarks.py for ours.
        return None

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # The SDK sends it before the first record: a copy that failed half-way
        # would leave the table empty. Sent after a whole copy (versions.py).
        return False
