"""In-memory enrollment data behind the sandbox API.

Enrollments are a `RecordStore` (see `records.py`; saved by `saving.py`)
ordered by `created_at`, with the API's filters (campaign, contact, completion)
and its rule that a contact cannot be enrolled in the same campaign twice
within 24 hours. A deleted
campaign (`delete_campaign`) takes its enrollments with it, and a list filtered
on it answers 404 "Campaign not found".
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from reviewrover_sandbox.saving import SavableRecordStore
from reviewrover_sandbox.seeding import SEED_TIME, random_ids, seed_creation_seconds
from reviewrover_sandbox.timestamps import (
    Clock,
    TimestampFormatter,
    format_timestamp,
    timestamp_text,
)

if TYPE_CHECKING:
    from reviewrover_sandbox.records import Page
    from reviewrover_sandbox.ties import TieGroups

FIELDS = (
    "id",
    "campaign_id",
    "contact_id",
    "enrolled_at",
    "completed",
    "created_at",
    "updated_at",
)
"""The documented enrollment fields, in the order the API renders them."""

RE_ENROLLMENT_WINDOW = timedelta(hours=24)

_TIE_PROBABILITY = 0.02
COMPLETED_SHARE = 0.45
"""The share of seeded enrollments that are completed, unless told otherwise."""
_MAX_SEED_UPDATE_DELAY = 200 * 86_400


class AlreadyEnrolled(Exception):  # noqa: N818 - the name is the API's error case
    """The contact was enrolled in the campaign within the last 24 hours."""

    def __init__(self, campaign_id: str, contact_id: str) -> None:
        """Describe the rejected enrollment.

        Args:
            campaign_id: The campaign of the rejected enrollment.
            contact_id: The contact of the rejected enrollment.
        """
        super().__init__(
            f"Contact {contact_id} was already enrolled in campaign {campaign_id}"
            " within the last 24 hours"
        )
        self.campaign_id = campaign_id
        self.contact_id = contact_id


def _seed_records(
    count: int,
    rng: random.Random,
    campaigns: int,
    ties: tuple[TieGroups, random.Random] | None,
    completed_share: float,
) -> list[dict[str, Any]]:
    """Generate `count` records with ids 1..count in creation order."""
    campaign_ids = random_ids(rng, "camp_", max(campaigns, 1))
    # Fewer contacts than enrollments: some contacts are in several campaigns.
    contact_ids = random_ids(rng, "cont_", max(count * 2 // 3, 1))
    seed_time = int(SEED_TIME.timestamp())
    draw = rng.random
    creations = seed_creation_seconds(count, rng)
    if ties is not None:  # drawn apart, so that the other fields stay the same
        groups, tie_rng = ties
        creations = groups.group(creations, tie_rng)
    formatter = TimestampFormatter()
    records: list[dict[str, Any]] = []
    created = creations[0] if creations else 0
    for record_id, drawn in enumerate(creations, start=1):
        # Now and then a record shares its creation second with the previous one.
        if record_id == 1 or draw() >= _TIE_PROBABILITY:
            created = drawn
        latest_delay = min(_MAX_SEED_UPDATE_DELAY, seed_time - created)
        created_at = formatter(created)
        records.append(
            {
                "id": record_id,
                "campaign_id": campaign_ids[int(draw() * len(campaign_ids))],
                "contact_id": contact_ids[int(draw() * len(contact_ids))],
                "enrolled_at": created_at,
                "completed": draw() < completed_share,
                "created_at": created_at,
                "updated_at": formatter(created + int(draw() * (latest_delay + 1))),
            }
        )
    return records


class EnrollmentStore(SavableRecordStore):
    """Thread-safe in-memory enrollments, listed newest created first.

    Every public method holds one lock and returns copies, so the server's
    handler threads and a test changing data during a sync never see a
    half-done change.
    """

    NAME = "enrollments"
    FIELDS = FIELDS
    CREATED_FIELD = "created_at"
    UPDATED_FIELD = "updated_at"
    TIMESTAMP_FIELDS = frozenset({"enrolled_at", "created_at", "updated_at"})

    def __init__(self, clock: Clock | None = None) -> None:
        """Create an empty store.

        Args:
            clock: The API clock used for new and updated records.
        """
        super().__init__(clock)
        self._deleted_campaigns: set[str] = set()

    @property
    def deleted_campaign_ids(self) -> frozenset[str]:
        """The campaigns deleted with `delete_campaign`: listing one answers 404."""
        with self._lock:
            return frozenset(self._deleted_campaigns)

    def delete_campaign(self, campaign_id: str) -> int:
        """Delete a campaign, as the API's owner would: its enrollments go too.

        From then on a list request filtered on `campaign_id` answers 404 with
        the API's error body, message "Campaign not found"; a campaign id the
        sandbox never had still lists nothing, with status 200.

        Args:
            campaign_id: The campaign.

        Returns:
            How many enrollments went with it.
        """
        with self._lock:
            self._reveal_due_locked()
            doomed = [r for r in self._records if r["campaign_id"] == campaign_id]
            for record in doomed:
                self._remove_locked(record)
            self._deleted_campaigns.add(campaign_id)
            return len(doomed)

    @classmethod
    def seeded(  # noqa: PLR0913 - one keyword argument per kind of data
        cls,
        count: int,
        *,
        seed: int = 1,
        campaigns: int = 8,
        clock: Clock | None = None,
        ties: TieGroups | None = None,
        completed_share: float = COMPLETED_SHARE,
    ) -> EnrollmentStore:
        """Create a store with deterministic records.

        The same `count`, `seed` and `ties` always give identical records,
        whatever the wall time: creation times spread over 2024-01-01..2025-06-30
        (increasing with id, with occasional ties) and updates come up to 200
        days later, never after `SEED_TIME`.

        Args:
            count: How many records, with ids 1..count.
            seed: Seed of the random generator.
            campaigns: How many distinct campaign ids to spread records over.
            clock: The API clock; real time by default.
            ties: Many more records sharing a creation second, some across
                page edges (see `TieGroups`); None: about 2 % of records tie
                with the one before. Only creation times change with it.
            completed_share: The chance that a seeded enrollment is completed
                (0 to 1); the rest are open. The other fields do not change
                with it.

        Returns:
            The filled store.

        Raises:
            ValueError: `completed_share` is not between 0 and 1.
        """
        if not 0 <= completed_share <= 1:
            msg = "completed_share must be between 0 and 1"
            raise ValueError(msg)
        store = cls(clock)
        rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
        tie_plan = None
        if ties is not None:
            tie_rng = random.Random(f"ties:{seed}")  # noqa: S311 - test data
            tie_plan = (ties, tie_rng)
        store._records = _seed_records(count, rng, campaigns, tie_plan, completed_share)
        store._by_id = {record["id"]: record for record in store._records}
        store._max_id = count
        return store

    def page(
        self,
        *,
        page: int,
        limit: int,
        campaign_id: str | None = None,
        contact_id: str | None = None,
        completed: bool | None = None,
    ) -> Page:
        """Return one page of the listing, newest created first.

        Without filters this costs O(limit). A filtered listing costs O(N) the
        first time and is cached until the next change.

        Args:
            page: Page number, from 1.
            limit: Records per page.
            campaign_id: Only records of this campaign.
            contact_id: Only records of this contact.
            completed: Only records with this completion status.

        Returns:
            The page's records as a JSON array and the total number of matches.
        """
        filters = {
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "completed": completed,
        }
        return self.window(offset=(page - 1) * limit, size=limit, filters=filters)

    def create(self, campaign_id: str, contact_id: str) -> dict[str, Any]:
        """Enroll a contact in a campaign now, as `POST /v1/enrollments` does.

        Args:
            campaign_id: The campaign.
            contact_id: The contact.

        Returns:
            A copy of the new record.

        Raises:
            AlreadyEnrolled: The same contact was enrolled in the same campaign
                within the last 24 hours of clock time.
        """
        now = self.clock.now()
        since = format_timestamp(now - RE_ENROLLMENT_WINDOW)
        with self._lock:
            # A linear scan: creating is rare next to listing, and O(N) is cheap.
            for record in self._records:
                if (
                    record["contact_id"] == contact_id
                    and record["campaign_id"] == campaign_id
                    and record["enrolled_at"] > since
                ):
                    raise AlreadyEnrolled(campaign_id, contact_id)
            return self._add_locked(
                _enrollment(campaign_id, contact_id, format_timestamp(now))
            )

    def add(  # noqa: PLR0913 - one argument per record field
        self,
        campaign_id: str,
        contact_id: str,
        *,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        enrolled_at: datetime | str | None = None,
        completed: bool = False,
    ) -> dict[str, Any]:
        """Insert a record with chosen values, skipping the 24-hour rule.

        For tests that need exact data, e.g. ties on `created_at` at a page edge.

        Args:
            campaign_id: The campaign.
            contact_id: The contact.
            created_at: Creation time; clock now by default.
            updated_at: Last update time; `created_at` by default.
            enrolled_at: Enrollment time; `created_at` by default.
            completed: Completion status.

        Returns:
            A copy of the new record, with the next id.
        """
        created = timestamp_text(created_at or self.clock.now())
        values = _enrollment(
            campaign_id,
            contact_id,
            created,
            updated_at=timestamp_text(updated_at or created),
            enrolled_at=timestamp_text(enrolled_at or created),
            completed=completed,
        )
        with self._lock:
            return self._add_locked(values)


def _enrollment(  # noqa: PLR0913 - one argument per record field
    campaign_id: str,
    contact_id: str,
    created_at: str,
    *,
    updated_at: str | None = None,
    enrolled_at: str | None = None,
    completed: bool = False,
) -> dict[str, Any]:
    """The fields of a new enrollment, all but its id."""
    return {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "enrolled_at": enrolled_at or created_at,
        "completed": completed,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
    }
