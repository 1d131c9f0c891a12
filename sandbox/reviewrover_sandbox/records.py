"""The machinery every list of the sandbox shares: a store of records, newest first.

A ReviewRover list is paged by page number and ordered by creation, newest
first. `RecordStore` keeps one list's records in ascending (creation time, id)
order, so the listing reads it from the end and a new record is appended in
O(1). Each record's JSON is rendered the first time it is served and cached
until the record changes, so a page is a join of cached bytes. Subclasses name
their fields (`EnrollmentStore`, `ReviewStore`) and add what is particular to
them: seeding, creation rules, filters.

Opt-in misbehaviour of the data itself: `update_late` makes a change that reads
see only after a lag (replica lag, a long transaction), and `window` can order
records that share a creation second at random, afresh on every call (`ties.py`).
"""

from __future__ import annotations

import bisect
import json
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from reviewrover_sandbox.ties import newest_first
from reviewrover_sandbox.timestamps import Clock, format_timestamp, timestamp_text

if TYPE_CHECKING:
    import random
    from collections.abc import Mapping

    from typing_extensions import Self

_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))

Filters = tuple[tuple[str, object], ...]
"""A listing's filters as (field, wanted value) pairs, sorted; empty: none."""


class Page(NamedTuple):
    """One page of a listing."""

    items_json: bytes
    """The page's records as a JSON array, ready to embed in a response."""
    total: int
    """How many records match the listing's filters, over all pages."""


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
        # Changes made but not yet visible: (visible from, id, changes), in order.
        self._late: list[tuple[datetime, int, dict[str, Any]]] = []

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
            self._reveal_due_locked()
            record = self._by_id.get(record_id)
            return dict(record) if record else None

    def get_json(self, record_id: int) -> bytes | None:
        """Return one record rendered as JSON, or None when there is no such id.

        Args:
            record_id: The record's id.
        """
        with self._lock:
            self._reveal_due_locked()
            record = self._by_id.get(record_id)
            return self._body_locked(record) if record else None

    def all_records(self) -> list[dict[str, Any]]:
        """Return copies of all records, in API order (newest created first)."""
        with self._lock:
            self._reveal_due_locked()
            return [dict(record) for record in reversed(self._records)]

    def ids_in_api_order(self) -> list[int]:
        """Return all ids, in API order (newest created first)."""
        with self._lock:
            self._reveal_due_locked()
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
        tie_order: random.Random | None = None,
    ) -> Page:
        """Return `size` records of the listing, after skipping `offset` of them.

        Without filters this costs O(size). A filtered listing costs O(N) the
        first time and is cached until the next change.

        Args:
            offset: How many records of the listing (newest first) to skip.
            size: How many records, at most.
            filters: Only records whose fields equal these values; a None
                value means no filter on that field.
            tie_order: Orders records created in the same second at random,
                afresh for this call (see `ties.newest_first`); None: newest
                id first.

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
            self._reveal_due_locked()
            records = self._matching_locked(wanted)
            selected = newest_first(
                records,
                offset=offset,
                size=size,
                created_field=self.CREATED_FIELD,
                tie_order=tie_order,
            )
            bodies = [self._body_locked(record) for record in selected]
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
        changes = self._changes(fields)
        with self._lock:
            self._reveal_due_locked()
            return dict(self._apply_locked(self._by_id[record_id], changes))

    def update_late(
        self,
        record_id: int,
        lag_seconds: float,
        **fields: Any,  # noqa: ANN401 - field values have mixed types
    ) -> dict[str, Any]:
        """Change a record as `update` does, but let reads see it only after a lag.

        The change is stamped now (clock now, or an explicit last-change
        timestamp), yet every read (lists, retrieve, `all_records`...) shows
        the record as it was until the clock reaches now plus `lag_seconds`:
        a read replica that lags, or a transaction that commits late. Late
        changes become visible in the order they were made; a record deleted
        meanwhile drops its pending change.

        Args:
            record_id: The record's id.
            lag_seconds: How long, in clock time, the change stays unseen.
            **fields: Fields other than `id`, e.g. `completed=True`.

        Returns:
            A copy of the record as it will read once the change shows.

        Raises:
            KeyError: There is no record with this id.
            ValueError: A field is not a documented, changeable one.
        """
        changes = self._changes(fields)
        visible_from = self.clock.now() + timedelta(seconds=lag_seconds)
        with self._lock:
            self._reveal_due_locked()
            record = {**self._by_id[record_id], **changes}
            self._late.append((visible_from, record_id, changes))
            return record

    @property
    def late_changes(self) -> int:
        """How many changes made with `update_late` no read has seen yet."""
        with self._lock:
            self._reveal_due_locked()
            return len(self._late)

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
            self._reveal_due_locked()
            record = self._by_id[record_id]
            self._remove_locked(record)
            return record

    def _changes(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Check and normalise an update's fields; stamp it clock now by default."""
        unknown = set(fields) - set(self.FIELDS[1:])
        if unknown:
            msg = f"Unknown or read-only fields: {sorted(unknown)}"
            raise ValueError(msg)
        changes = {
            name: timestamp_text(value) if name in self.TIMESTAMP_FIELDS else value
            for name, value in fields.items()
        }
        changes.setdefault(self.UPDATED_FIELD, format_timestamp(self.clock.now()))
        return changes

    def _apply_locked(
        self, old: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        self._remove_locked(old)
        record = {**old, **changes}
        self._insert_locked(record)
        return record

    def _reveal_due_locked(self) -> None:
        """Apply the late changes whose time has come (see `update_late`)."""
        if not self._late:
            return
        now = self.clock.now()
        due = [late for late in self._late if late[0] <= now]
        self._late = [late for late in self._late if late[0] > now]
        for _, record_id, changes in due:
            old = self._by_id.get(record_id)
            if old is not None:  # else deleted meanwhile
                self._apply_locked(old, changes)

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
