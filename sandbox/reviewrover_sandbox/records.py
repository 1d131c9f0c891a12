"""The machinery every list of the sandbox shares: a store of records, newest first.

A ReviewRover list is paged by page number and ordered by creation, newest
first. `RecordStore` keeps one list's records in ascending (creation time, id)
order, so the listing reads it from the end and a new record is appended in
O(1). Each record's JSON is rendered the first time it is served and cached
until the record changes, so a page is a join of cached bytes. Subclasses name
their fields (`EnrollmentStore`, `ReviewStore`) and add what is particular to
them: seeding, creation rules, filters.
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    import random
    from collections.abc import Mapping

    from typing_extensions import Self

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SEED_FIRST_CREATED = datetime(2024, 1, 1, tzinfo=timezone.utc)
SEED_LAST_CREATED = datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
SEED_TIME = datetime(2025, 7, 1, tzinfo=timezone.utc)
"""Seeded data looks as if it was captured at this instant: nothing is later."""

_ALPHANUMERICS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_SUFFIX_LENGTH = 17
_EPOCH = date(1970, 1, 1)
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))

Filters = tuple[tuple[str, object], ...]
"""A listing's filters as (field, wanted value) pairs, sorted; empty: none."""


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


def timestamp_text(value: datetime | str) -> str:
    """Return an API timestamp: datetimes are formatted, strings kept as given.

    Args:
        value: An aware datetime or an API-formatted string.
    """
    return format_timestamp(value) if isinstance(value, datetime) else value


def random_ids(rng: random.Random, prefix: str, count: int) -> list[str]:
    """Return `count` ids like `camp_Kd93lftgZXGRbxqoj`, from one random draw.

    Args:
        rng: The source of randomness.
        prefix: What each id starts with, e.g. `camp_`.
        count: How many ids.
    """
    alphabet = (_ALPHANUMERICS * 5)[:256].encode()  # byte -> character, cheaply
    table = bytes.maketrans(bytes(range(256)), alphabet)
    text = rng.randbytes(count * _ID_SUFFIX_LENGTH).translate(table).decode()
    return [
        prefix + text[start : start + _ID_SUFFIX_LENGTH]
        for start in range(0, len(text), _ID_SUFFIX_LENGTH)
    ]


def seed_creation_seconds(count: int, rng: random.Random) -> list[int]:
    """Draw `count` sorted epoch seconds between the first and last seed creation.

    Args:
        count: How many.
        rng: The source of randomness.
    """
    first = int(SEED_FIRST_CREATED.timestamp())
    span = int(SEED_LAST_CREATED.timestamp()) - first + 1
    draw = rng.random
    return sorted(first + int(draw() * span) for _ in range(count))


class TimestampFormatter:
    """Formats epoch seconds quickly, caching the text of each day and second."""

    def __init__(self) -> None:
        """Create a formatter with empty caches."""
        self._days: dict[int, str] = {}
        self._times: dict[int, str] = {}

    def __call__(self, epoch_seconds: int) -> str:
        """Return the API timestamp of `epoch_seconds`.

        Args:
            epoch_seconds: Seconds since 1970-01-01 UTC.
        """
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


def _render(record: dict[str, Any]) -> bytes:
    return _JSON_ENCODER.encode(record).encode()


class RecordStore:
    """Thread-safe in-memory records of one list, listed newest created first.

    Every public method holds one lock and returns copies, so the server's
    handler threads and a test changing data during a sync never see a
    half-done change. Subclasses set the class attributes.

    Attributes:
        NAME: The list's name, its JSON key and the last part of its path.
        FIELDS: The record's fields, in the order the API renders them; the
            first is `id`.
        CREATED_FIELD: The timestamp that orders the listing (creation).
        UPDATED_FIELD: The timestamp of the last change.
        TIMESTAMP_FIELDS: Fields holding timestamps.
        clock: The API clock used for new and changed records.
    """

    NAME: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]
    CREATED_FIELD: ClassVar[str]
    UPDATED_FIELD: ClassVar[str]
    TIMESTAMP_FIELDS: ClassVar[frozenset[str]]

    def __init__(self, clock: Clock | None = None) -> None:
        """Create an empty store.

        Args:
            clock: The API clock used for new and updated records.
        """
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []  # ascending (created, id)
        self._by_id: dict[int, dict[str, Any]] = {}
        self._bodies: dict[int, bytes] = {}  # rendered JSON, filled when served
        self._filtered: dict[Filters, list[dict[str, Any]]] = {}
        self._max_id = 0
        self._version = 0

    @classmethod
    def from_records(
        cls,
        records: list[dict[str, Any]],
        *,
        next_id: int | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """Create a store holding `records` (in any order).

        Args:
            records: Complete records, each with exactly the store's fields.
            next_id: The id the next new record gets; one past the largest id
                by default (never less).
            clock: The API clock.

        Returns:
            The filled store.

        Raises:
            ValueError: A record lacks a field or has an unknown one, or two
                records share an id.
        """
        store = cls(clock)
        wanted = set(cls.FIELDS)
        for record in records:
            if set(record) != wanted:
                msg = f"A {cls.NAME} record needs exactly the fields {cls.FIELDS}"
                raise ValueError(msg)
        ordered = [{name: record[name] for name in cls.FIELDS} for record in records]
        ordered.sort(key=store._sort_key)
        store._records = ordered
        store._by_id = {record["id"]: record for record in ordered}
        if len(store._by_id) != len(ordered):
            msg = f"Two {cls.NAME} records share an id"
            raise ValueError(msg)
        largest = max(store._by_id, default=0)
        store._max_id = max(largest, (next_id or 0) - 1)
        return store

    @classmethod
    def from_json(cls, text: str | bytes, *, clock: Clock | None = None) -> Self:
        """Create a store from the text `to_json()` wrote.

        Args:
            text: The JSON document.
            clock: The API clock.

        Returns:
            The store, with the same records and next id.

        Raises:
            ValueError: The text is not a saved store of this list.
        """
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("list") != cls.NAME:
            msg = f"Not a saved sandbox store of {cls.NAME}"
            raise ValueError(msg)
        return cls.from_records(
            document["records"], next_id=document["next_id"], clock=clock
        )

    @classmethod
    def load(cls, path: Path, *, clock: Clock | None = None) -> Self:
        """Read a store that `save()` wrote.

        Args:
            path: The file.
            clock: The API clock.

        Returns:
            The store.
        """
        return cls.from_json(path.read_bytes(), clock=clock)

    def to_json(self) -> str:
        """Render the records (oldest first) and the next id as one JSON document.

        Returns:
            `{"list": NAME, "next_id": ..., "records": [...]}`.
        """
        with self._lock:
            records = [dict(record) for record in self._records]
            next_id = self._max_id + 1
        document = {"list": self.NAME, "next_id": next_id, "records": records}
        return json.dumps(document, separators=(",", ":")) + "\n"

    def save(self, path: Path) -> None:
        """Write `to_json()` to `path` atomically: a temporary file, then a rename.

        A reader (or a crash) never sees a half-written file. Missing parent
        directories are created.

        Args:
            path: The file.
        """
        text = self.to_json()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @property
    def version(self) -> int:
        """A counter bumped by every change to the data."""
        return self._version

    def __len__(self) -> int:
        """Return the number of records."""
        with self._lock:
            return len(self._records)

    def get(self, record_id: int) -> dict[str, Any] | None:
        """Return a copy of one record, or None when there is no such id.

        Args:
            record_id: The record's id.
        """
        with self._lock:
            record = self._by_id.get(record_id)
            return dict(record) if record else None

    def get_json(self, record_id: int) -> bytes | None:
        """Return one record rendered as JSON, or None when there is no such id.

        Args:
            record_id: The record's id.
        """
        with self._lock:
            record = self._by_id.get(record_id)
            return self._body_locked(record) if record else None

    def all_records(self) -> list[dict[str, Any]]:
        """Return copies of all records, in API order (newest created first)."""
        with self._lock:
            return [dict(record) for record in reversed(self._records)]

    def ids_in_api_order(self) -> list[int]:
        """Return all ids, in API order (newest created first)."""
        with self._lock:
            return [record["id"] for record in reversed(self._records)]

    def page(self, *, page: int, limit: int) -> Page:
        """Return one page of the listing, newest created first.

        Args:
            page: Page number, from 1.
            limit: Records per page.

        Returns:
            The page's records as a JSON array and the total number of records.
        """
        return self.window(offset=(page - 1) * limit, size=limit)

    def window(
        self,
        *,
        offset: int,
        size: int,
        filters: Mapping[str, object] | None = None,
    ) -> Page:
        """Return `size` records of the listing, after skipping `offset` of them.

        Without filters this costs O(size). A filtered listing costs O(N) the
        first time and is cached until the next change.

        Args:
            offset: How many records of the listing (newest first) to skip.
            size: How many records, at most.
            filters: Only records whose fields equal these values; a None
                value means no filter on that field.

        Returns:
            The records as a JSON array and the total number of matches.
        """
        wanted = tuple(
            sorted(
                (name, value)
                for name, value in (filters or {}).items()
                if value is not None
            )
        )
        with self._lock:
            records = self._matching_locked(wanted)
            end = len(records) - offset
            selected = records[max(end - size, 0) : end] if end > 0 else []
            bodies = [self._body_locked(record) for record in reversed(selected)]
            return Page(b"[" + b",".join(bodies) + b"]", len(records))

    def update(self, record_id: int, **fields: Any) -> dict[str, Any]:  # noqa: ANN401 - field values have mixed types
        """Change fields of a record; the last-change timestamp becomes clock now.

        Timestamp fields accept aware datetimes or API-formatted strings. An
        explicit last-change timestamp is kept instead of clock now.

        Args:
            record_id: The record's id.
            **fields: Fields other than `id`, e.g. `completed=True`.

        Returns:
            A copy of the updated record.

        Raises:
            KeyError: There is no record with this id.
            ValueError: A field is not a documented, changeable one.
        """
        unknown = set(fields) - set(self.FIELDS[1:])
        if unknown:
            msg = f"Unknown or read-only fields: {sorted(unknown)}"
            raise ValueError(msg)
        changes = {
            name: timestamp_text(value) if name in self.TIMESTAMP_FIELDS else value
            for name, value in fields.items()
        }
        changes.setdefault(self.UPDATED_FIELD, format_timestamp(self.clock.now()))
        with self._lock:
            old = self._by_id[record_id]
            self._remove_locked(old)
            record = {**old, **changes}
            self._insert_locked(record)
            return dict(record)

    def delete(self, record_id: int) -> dict[str, Any]:
        """Remove a record (O(N) unless it is among the newest).

        Args:
            record_id: The record's id.

        Returns:
            The removed record.

        Raises:
            KeyError: There is no record with this id.
        """
        with self._lock:
            record = self._by_id[record_id]
            self._remove_locked(record)
            return record

    def _sort_key(self, record: dict[str, Any]) -> tuple[str, int]:
        return record[self.CREATED_FIELD], record["id"]

    def _add_locked(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a record with the next id; `values` holds every other field."""
        self._max_id += 1
        record = {name: values[name] for name in self.FIELDS[1:]}
        record = {"id": self._max_id, **record}
        self._insert_locked(record)
        return dict(record)

    def _insert_locked(self, record: dict[str, Any]) -> None:
        key = self._sort_key(record)
        if not self._records or self._sort_key(self._records[-1]) <= key:
            self._records.append(record)
        else:  # The clock was moved back, or a past creation time was given.
            position = bisect.bisect(self._records, key, key=self._sort_key)
            self._records.insert(position, record)
        self._by_id[record["id"]] = record
        self._changed_locked()

    def _remove_locked(self, record: dict[str, Any]) -> None:
        position = bisect.bisect_left(
            self._records, self._sort_key(record), key=self._sort_key
        )
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

    def _matching_locked(self, filters: Filters) -> list[dict[str, Any]]:
        if not filters:
            return self._records
        cached = self._filtered.get(filters)
        if cached is None:
            cached = [
                record
                for record in self._records
                if all(record[name] == value for name, value in filters)
            ]
            self._filtered[filters] = cached
        return cached
