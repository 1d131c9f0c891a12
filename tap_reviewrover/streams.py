"""The streams: declarations over :class:`~tap_reviewrover.client.ReviewRoverStream`."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from typing_extensions import override

from tap_reviewrover.client import ReviewRoverStream


class EnrollmentsStream(ReviewRoverStream):
    """Enrollments: a contact enrolled in a campaign's message sequence."""

    name = "enrollments"
    path = "/v1/enrollments"
    records_key = "enrollments"
    primary_keys = ("id",)
    created_key = "created_at"
    replication_key = "updated_at"

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
            required=True,
            description="Timestamp of when the enrollment was created.",
        ),
        th.Property(
            "updated_at",
            th.DateTimeType,
            required=True,
            description="Timestamp of when the enrollment was last updated.",
        ),
    ).to_dict()

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        # One partition, and one bookmark, per campaign when campaign_ids is set
        # (the API filters by campaign_id). Without it: one unpartitioned walk,
        # whatever partitions an old state has.
        campaign_ids = self.config.get("campaign_ids") or []
        return [{"campaign_id": campaign_id} for campaign_id in campaign_ids] or None
