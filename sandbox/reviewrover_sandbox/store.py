"""In-memory enrollment data behind the sandbox API.

Records live in one list kept in ascending (created_at, id) order, so the API's
"most recently created first" listing reads it from the end and a newly created
record is appended in O(1). Each record's JSON is rendered the first time it is
served and cached until the record changes, so a list page is a join of cached
bytes.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

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

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SEED_FIRST_CREATED = datetime(2024, 1, 1, tzinfo=timezone.utc)
SEED_LAST_CREATED = datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
SEED_TIME = datetime(2025, 7, 1, tzinfo=timezone.utc)
"""Seeded data looks as if it was captured at this instant: nothing is later."""

RE_ENROLLMENT_WINDOW = timedelta(hours=24)

_ALPHANUMERICS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_SUFFIX_LENGTH = 17
_TIE_PROBABILITY = 0.02
_COMPLETED_PROBABILITY = 0.45
_MAX_SEED_UPDATE_DELAY = 200 * 86_400
_EPOCH = date(1970, 1, 1)
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))
_TIMESTAMP_FIELDS = frozenset({"enrolled_at", "created_at", "updated_at"})

_Filters = tuple[str | None, str | None, bool | None]
"""campaign_id, contact_id and completed filters of a listing; None: no filter."""


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


class Clock:
    """The API server's clock: real UTC time shifted by a settable offset.

    Tests set `offset_seconds` (at any time) to simulate an API clock that is
    ahead of (positive) or behind (negative) the tap's host.
    """

    def __init__(self, offset_seconds: float = 0.0) -> None:
        """Create a clock.

        Args:
            offset_seconds: Seconds added to the real UTC time.
        """
        self.offset_seconds = offset_seconds

    def now(self) -> datetime:
        """Return the current API time.

        Returns:
            An aware UTC datetime.
        """
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset_seconds)


class Page(NamedTuple):
    """One page of a listing."""

    items_json: bytes
    """The page's records as a JSON array, ready to embed in a response."""
    total: int
    """How many records match the listing's filters, over all pages."""


def format_timestamp(moment: datetime) -> str:
    """Render a datetime the way the API does: UTC, whole seconds, `Z` suffix.

    Args:
        moment: An aware datetime.

    Returns:
        A string like `2025-02-17T02:00:34Z`.
    """
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def _render(record: dict[str, Any]) -> bytes:
    return _JSON_ENCODER.encode(record).encode()


def _sort_key(record: dict[str, Any]) -> tuple[str, int]:
    return record["created_at"], record["id"]


def _random_ids(rng: random.Random, prefix: str, count: int) -> list[str]:
    """Return `count` ids like `camp_Kd93lftgZXGRbxqoj`, from one random draw."""
    alphabet = (_ALPHANUMERICS * 5)[:256].encode()  # byte -> character, cheaply
    table = bytes.maketrans(bytes(range(256)), alphabet)
    text = rng.randbytes(count * _ID_SUFFIX_LENGTH).translate(table).decode()
    return [
        prefix + text[start : start + _ID_SUFFIX_LENGTH]
        for start in range(0, len(text), _ID_SUFFIX_LENGTH)
    ]


class _TimestampFormatter:
    """Formats epoch seconds quickly, caching the text of each day and second."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._times: dict[int, str] = {}

    def __call__(self, epoch_seconds: int) -> str:
        day, second = divmod(epoch_seconds, 86_400)
        date_text = self._days.get(day)
        if date_text is None:
            date_text = self._days[day] = (_EPOCH + timedelta(days=day)).isoformat()
        time_text = self._times.get(second)
        if time_text is None:
            hours, minutes = divmod(second // 60, 60)
            time_text = f"T{hours:02d}:{minutes:02d}:{second % 60:02d}Z"
            self._times[second] = time_text
        return date_text + time_text


def _seed_records(
    count: int, rng: random.Random, campaigns: int
) -> list[dict[str, Any]]:
    """Generate `count` records with ids 1..count in creation order."""
    campaign_ids = _random_ids(rng, "camp_", max(campaigns, 1))
    # Fewer contacts than enrollments: some contacts are in several campaigns.
    contact_ids = _random_ids(rng, "cont_", max(count * 2 // 3, 1))
    first = int(SEED_FIRST_CREATED.timestamp())
    span = int(SEED_LAST_CREATED.timestamp()) - first + 1
    seed_time = int(SEED_TIME.timestamp())
    draw = rng.random
    offsets = sorted(int(draw() * span) for _ in range(count))
    formatter = _TimestampFormatter()
    records: list[dict[str, Any]] = []
    created = first
    for record_id, offset in enumerate(offsets, start=1):
        # Now and then a record shares its creation second with the previous one.
        if record_id == 1 or draw() >= _TIE_PROBABILITY:
            created = first + offset
        latest_delay = min(_MAX_SEED_UPDATE_DELAY, seed_time - created)
        created_at = formatter(created)
        records.append(
            {
                "id": record_id,
                "campaign_id": campaign_ids[int(draw() * len(campaign_ids))],
                "contact_id": contact_ids[int(draw() * len(contact_ids))],
                "enrolled_at": created_at,
                "completed": draw() < _COMPLETED_PROBABILITY,
                "created_at": created_at,
                "updated_at": formatter(created + int(draw() * (latest_delay + 1))),
            }
        )
    return records


class EnrollmentStore:
    """Thread-safe in-memory enrollments, listed newest created first.

    Every public method holds one lock and returns copies, so the server's
    handler threads and a test changing data during a sync never see a
    half-done change.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        """Create an empty store.

        Args:
            clock: The API clock used for new and updated records.
        """
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []  # ascending (created_at, id)
        self._by_id: dict[int, dict[str, Any]] = {}
        self._bodies: dict[int, bytes] = {}  # rendered JSON, filled when served
        self._filtered: dict[_Filters, list[dict[str, Any]]] = {}
        self._max_id = 0
        self._version = 0

    @classmethod
    def seeded(
        cls,
        count: int,
        *,
        seed: int = 1,
        campaigns: int = 8,
        clock: Clock | None = None,
    ) -> EnrollmentStore:
        """Create a store with deterministic records.

        The same `count` and `seed` always give identical records, whatever the
        wall time: creation times spread over 2024-01-01..2025-06-30 (increasing
        with id, with occasional ties) and updates come up to 200 days later,
        never after `SEED_TIME`.

        Args:
            count: How many records, with ids 1..count.
            seed: Seed of the random generator.
            campaigns: How many distinct campaign ids to spread records over.
            clock: The API clock; real time by default.

        Returns:
            The filled store.
        """
        store = cls(clock)
        rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
        store._records = _seed_records(count, rng, campaigns)
        store._by_id = {record["id"]: record for record in store._records}
        store._max_id = count
        return store

    @property
    def version(self) -> int:
        """A counter bumped by every change to the data."""
        return self._version

    def __len__(self) -> int:
        """Return the number of records."""
        with self._lock:
            return len(self._records)

    def get(self, enrollment_id: int) -> dict[str, Any] | None:
        """Return a copy of one record, or None when there is no such id.

        Args:
            enrollment_id: The record's id.
        """
        with self._lock:
            record = self._by_id.get(enrollment_id)
            return dict(record) if record else None

    def get_json(self, enrollment_id: int) -> bytes | None:
        """Return one record rendered as JSON, or None when there is no such id.

        Args:
            enrollment_id: The record's id.
        """
        with self._lock:
            record = self._by_id.get(enrollment_id)
            return self._body_locked(record) if record else None

    def all_records(self) -> list[dict[str, Any]]:
        """Return copies of all records, in API order (newest created first)."""
        with self._lock:
            return [dict(record) for record in reversed(self._records)]

    def ids_in_api_order(self) -> list[int]:
        """Return all ids, in API order (newest created first)."""
        with self._lock:
            return [record["id"] for record in reversed(self._records)]

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
        with self._lock:
            records = self._matching_locked((campaign_id, contact_id, completed))
            end = len(records) - (page - 1) * limit
            selected = records[max(end - limit, 0) : end] if end > 0 else []
            bodies = [self._body_locked(record) for record in reversed(selected)]
            return Page(b"[" + b",".join(bodies) + b"]", len(records))

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
            return self._add_locked(campaign_id, contact_id, format_timestamp(now))

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
        created = _timestamp(created_at or self.clock.now())
        with self._lock:
            return self._add_locked(
                campaign_id,
                contact_id,
                created,
                updated_at=_timestamp(updated_at or created),
                enrolled_at=_timestamp(enrolled_at or created),
                completed=completed,
            )

    def update(self, enrollment_id: int, **fields: Any) -> dict[str, Any]:  # noqa: ANN401 - field values have mixed types
        """Change fields of a record; `updated_at` becomes clock now.

        Timestamp fields accept aware datetimes or API-formatted strings. An
        explicit `updated_at` is kept instead of clock now.

        Args:
            enrollment_id: The record's id.
            **fields: Documented fields other than `id`, e.g. `completed=True`.

        Returns:
            A copy of the updated record.

        Raises:
            KeyError: There is no record with this id.
            ValueError: A field is not a documented, changeable one.
        """
        unknown = set(fields) - set(FIELDS[1:])
        if unknown:
            msg = f"Unknown or read-only fields: {sorted(unknown)}"
            raise ValueError(msg)
        changes = {
            name: _timestamp(value) if name in _TIMESTAMP_FIELDS else value
            for name, value in fields.items()
        }
        changes.setdefault("updated_at", format_timestamp(self.clock.now()))
        with self._lock:
            old = self._by_id[enrollment_id]
            self._remove_locked(old)
            record = {**old, **changes}
            self._insert_locked(record)
            return dict(record)

    def delete(self, enrollment_id: int) -> dict[str, Any]:
        """Remove a record (O(N) unless it is among the newest).

        Args:
            enrollment_id: The record's id.

        Returns:
            The removed record.

        Raises:
            KeyError: There is no record with this id.
        """
        with self._lock:
            record = self._by_id[enrollment_id]
            self._remove_locked(record)
            return record

    def _add_locked(  # noqa: PLR0913 - one argument per record field
        self,
        campaign_id: str,
        contact_id: str,
        created_at: str,
        *,
        updated_at: str | None = None,
        enrolled_at: str | None = None,
        completed: bool = False,
    ) -> dict[str, Any]:
        self._max_id += 1
        record = {
            "id": self._max_id,
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "enrolled_at": enrolled_at or created_at,
            "completed": completed,
            "created_at": created_at,
            "updated_at": updated_at or created_at,
        }
        self._insert_locked(record)
        return dict(record)

    def _insert_locked(self, record: dict[str, Any]) -> None:
        key = _sort_key(record)
        if not self._records or _sort_key(self._records[-1]) <= key:
            self._records.append(record)
        else:  # The clock was moved back, or a past created_at was given.
            position = bisect.bisect(self._records, key, key=_sort_key)
            self._records.insert(position, record)
        self._by_id[record["id"]] = record
        self._changed_locked()

    def _remove_locked(self, record: dict[str, Any]) -> None:
        position = bisect.bisect_left(self._records, _sort_key(record), key=_sort_key)
        del self._records[position]
        del self._by_id[record["id"]]
        self._bodies.pop(record["id"], None)
        self._changed_locked()

    def _changed_locked(self) -> None:
        self._version += 1
        self._filtered.clear()

    def _body_locked(self, record: dict[str, Any]) -> bytes:
        body = self._bodies.get(record["id"])
        if body is None:
            body = self._bodies[record["id"]] = _render(record)
        return body

    def _matching_locked(self, filters: _Filters) -> list[dict[str, Any]]:
        if filters == (None, None, None):
            return self._records
        cached = self._filtered.get(filters)
        if cached is None:
            campaign_id, contact_id, completed = filters
            cached = [
                record
                for record in self._records
                if (campaign_id is None or record["campaign_id"] == campaign_id)
                and (contact_id is None or record["contact_id"] == contact_id)
                and (completed is None or record["completed"] is completed)
            ]
            self._filtered[filters] = cached
        return cached


def _timestamp(value: datetime | str) -> str:
    return format_timestamp(value) if isinstance(value, datetime) else value
