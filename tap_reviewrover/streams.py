"""The ``enrollments`` stream."""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_reviewrover.client import ReviewRoverStream
from tap_reviewrover.errors import BadResponseError
from tap_reviewrover.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    next_bookmark,
    updated_since,
)

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable

    from singer_sdk.helpers.types import Context, Record


class EnrollmentsStream(ReviewRoverStream):
    """Enrollments: a contact enrolled in a campaign's message sequence."""

    name = "enrollments"
    path = "/v1/enrollments"
    primary_keys = ("id",)
    replication_key = "updated_at"
    # is_sorted stays False: the API lists by created_at, not by updated_at.

    #: The updated_at test of the partition being synced (None: keep every record).
    _is_wanted: Callable[[str], bool] | None = None

    # The API's JSON already has the schema's types (integers, strings, booleans,
    # timestamps as text), so the SDK's per-field conformance is skipped: it cost
    # a third of the tap's CPU. post_process drops fields the schema lacks.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    #: Fields the API added that the schema does not know, already warned of.
    _unknown_fields: frozenset[str] = frozenset()

    schema = th.PropertiesList(
        th.Property(
            "id",
            th.IntegerType,
            required=True,
            description="Unique identifier for the enrollment.",
        ),
        th.Property(
            "campaign_id",
            th.StringType,
            description="ID of the campaign the contact is enrolled in.",
        ),
        th.Property(
            "contact_id",
            th.StringType,
            description="ID of the enrolled contact.",
        ),
        th.Property(
            "enrolled_at",
            th.DateTimeType,
            description="When the contact was enrolled.",
        ),
        th.Property(
            "completed",
            th.BooleanType,
            description="Whether the enrollment has completed all campaign steps.",
        ),
        th.Property(
            "created_at",
            th.DateTimeType,
            description="Timestamp of when the enrollment was created.",
        ),
        th.Property(
            "updated_at",
            th.DateTimeType,
            description="Timestamp of when the enrollment was last updated.",
        ),
    ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        # One partition, and one bookmark, per campaign when campaign_ids is set.
        # Without it: one unpartitioned walk, whatever partitions an old state has.
        campaign_ids = self.config.get("campaign_ids") or []
        return [{"campaign_id": campaign_id} for campaign_id in campaign_ids] or None

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: int | None,
    ) -> dict[str, t.Any]:
        params = super().get_url_params(context, next_page_token)
        if context and context.get("campaign_id"):
            params["campaign_id"] = context["campaign_id"]
        return params

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # The SDK's default ceiling is the tap host's clock, which may be minutes
        # ahead of the API's; walk_finished sets the ceiling from the API's clock.
        return None

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # The SDK would send ACTIVATE_VERSION before the first record, and a target
        # retires every older row as soon as it reads it: a FULL_TABLE sync that
        # failed half-way would leave the table empty, or every row marked
        # deleted. get_records sends it after the last record instead.
        return False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        since = self.get_starting_timestamp(context) if self._is_incremental else None
        self._is_wanted = updated_since(since) if since else None
        # The version of the copy this sync makes: its start, in seconds (the
        # SDK's scheme).
        version = self._initialized_at // 1000 if self._uses_versions else None
        if version is not None:
            # Every record carries it, incremental ones too: a target retires rows
            # older than an activated version, and some (Snowflake) never retire
            # a row that has no version at all.
            self._stream_version = version
        yield from super().get_records(context)
        if (
            version is not None
            and not self._is_incremental
            and self._is_last_partition(context)
        ):
            # Every record of this copy was written: the target may now retire
            # rows of older copies (enrollments deleted in ReviewRover).
            self._write_activate_version_message(version)

    @property
    def _uses_versions(self) -> bool:
        if not self.config.get("emit_activate_version_messages", True):
            return False
        if self.get_batch_config(self.config):
            # A BATCH message can follow the last record; ACTIVATE_VERSION must not
            # come before it, and the SDK gives no hook after it.
            self.logger.warning(
                "ACTIVATE_VERSION is not sent in batch mode: rows deleted in "
                "ReviewRover stay in the target.",
            )
            return False
        return True

    def _is_last_partition(self, context: Context | None) -> bool:
        partitions = self.partitions
        return not partitions or context == partitions[-1]

    @override
    def post_process(
        self,
        row: Record,
        context: Context | None = None,
    ) -> Record | None:
        # The API cannot filter on updated_at, so every sync reads every page and
        # drops older records here; dropping them while parsing the page would make
        # an all-old page look empty and end the walk early.
        updated_at = row.get("updated_at")
        # No bookmark yet, or no updated_at to judge by: keep the record.
        if self._is_wanted is not None and isinstance(updated_at, str):
            try:
                if not self._is_wanted(updated_at):
                    return None
            except InvalidTimestampError:
                msg = (
                    f"Enrollment {row.get('id')!r} has updated_at {updated_at!r}, "
                    "which is not an ISO 8601 timestamp."
                )
                raise BadResponseError(msg) from None
        if not row.keys() <= self._known_fields:
            row = self._without_unknown_fields(row)
        self.records_emitted += 1
        return row

    @cached_property
    def _known_fields(self) -> frozenset[str]:
        return frozenset(self.schema["properties"])

    def _without_unknown_fields(self, row: Record) -> Record:
        known = self._known_fields
        unknown = frozenset(row.keys() - known)
        if not unknown <= self._unknown_fields:
            self._unknown_fields |= unknown
            self.logger.warning(
                "ReviewRover sent fields the tap does not know yet, left out of "
                "the records: %s.",
                ", ".join(sorted(unknown)),
            )
        return {name: value for name, value in row.items() if name in known}

    @override
    def generate_child_contexts(
        self,
        record: Record,
        context: Context | None,
    ) -> Iterable[Context | None]:
        # No child streams: skip the SDK's per-record context and its copy.
        return ()

    @override
    def _increment_stream_state(
        self,
        latest_record: Record,
        *,
        context: Context | None = None,
    ) -> None:
        # The SDK would track the newest updated_at seen, record by record. On a
        # list ordered by creation that value is no safe bookmark (see
        # walk_finished, which sets the bookmark once every page was read), and
        # tracking it cost CPU on every record.
        return

    @override
    def walk_finished(
        self,
        context: Context | None,
        api_clock_at_start: dt.datetime | None,
    ) -> None:
        if not self._is_incremental:
            return
        bookmark = next_bookmark(api_clock_at_start)
        if bookmark is None:
            self.logger.warning(
                "ReviewRover sent no Date header, so the time this sync started is "
                "unknown on the API's clock; the bookmark stays where it was so "
                "that no update is missed.",
            )
            return
        value = format_timestamp(bookmark)
        # Every page was read, so every update before the sync started was seen:
        # the bookmark becomes that moment. The signpost caps the SDK's own
        # max-seen value (an update made during the sync can be newer) at it.
        self.state_manager.write_replication_key_signpost(value, context=context)
        self.state_manager.increment_state(
            {"updated_at": value},
            context=context,
            replication_key="updated_at",
        )

    @property
    def _is_incremental(self) -> bool:
        return self.replication_method == "INCREMENTAL"
