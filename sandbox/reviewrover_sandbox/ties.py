"""Records that share a creation second: seeding many, serving them in any order.

The API orders a list by creation time alone and pages it with an offset, so
records created in the same second (ties) may come in any order, and in another
order on the next request: a tie group that straddles a page edge can then
show one record on both pages and another on neither.

- `TieGroups` seeds such data: a share of the records in same-second groups,
  and optionally a group across every page edge of a given page size::

      EnrollmentStore.seeded(500, seed=7, ties=TieGroups(0.3, page_size=10))

- `newest_first` cuts a page out of a listing; given a random generator it
  orders each tie group it touches afresh, as such an API would on every
  request (`sandbox.faults.tie_shuffle_seed`, see `plan.py`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random
    from collections.abc import Iterator, Sequence

_SMALLEST_GROUP = 2


@dataclass(frozen=True)
class TieGroups:
    """How seeded records share creation seconds.

    Attributes:
        share: About this fraction of the records (0 to 1) are in a group of
            records created in the same second. Groups placed at random may
            touch and merge, so the share is approximate.
        largest: The most records a group placed at random holds (2 or more).
        page_size: When set, a group also straddles every page edge of the
            unfiltered listing at this page size (between pages 1 and 2, 2 and
            3, ...), with records of it on both sides; a new record moves the
            edges.
    """

    share: float = 0.0
    largest: int = 3
    page_size: int | None = None

    def __post_init__(self) -> None:
        """Check the values.

        Raises:
            ValueError: A value is out of range.
        """
        if not 0 <= self.share <= 1:
            msg = "share must be from 0 to 1"
            raise ValueError(msg)
        if self.largest < _SMALLEST_GROUP:
            msg = "largest must be at least 2"
            raise ValueError(msg)
        if self.page_size is not None and self.page_size < 1:
            msg = "page_size must be at least 1, or None"
            raise ValueError(msg)

    def group(self, creations: Sequence[int], rng: random.Random) -> list[int]:
        """Return the creation seconds with groups of records made to share one.

        A record joined to the one before it takes its second; as `creations`
        is sorted (ascending, like the ids), the result is sorted too.

        Args:
            creations: Epoch seconds, ascending.
            rng: The source of randomness: the same one gives the same groups.

        Returns:
            The new creation seconds, one per record, ascending.
        """
        count = len(creations)
        joined = [False] * count  # joined[i]: record i takes record i-1's second
        if self.page_size is not None:
            # Page k of the newest-first listing ends with the record at
            # ascending index count - k * page_size; the next one starts below.
            for edge in range(count - self.page_size, 0, -self.page_size):
                size = rng.randint(_SMALLEST_GROUP, self.largest)
                older = rng.randint(1, size - 1)  # records on the next page
                for index in range(
                    max(edge - older, 0) + 1, min(edge + size - older, count)
                ):
                    joined[index] = True
        mean_size = (_SMALLEST_GROUP + self.largest) / 2
        start_chance = self.share / (mean_size - self.share * (mean_size - 1))
        index = 0
        while index < count:
            if rng.random() < start_chance:
                size = rng.randint(_SMALLEST_GROUP, self.largest)
                for member in range(index + 1, min(index + size, count)):
                    joined[member] = True
                index += size
            else:
                index += 1
        grouped: list[int] = []
        for index, second in enumerate(creations):
            grouped.append(grouped[-1] if joined[index] and grouped else second)
        return grouped


def newest_first(
    records: Sequence[dict[str, Any]],
    *,
    offset: int,
    size: int,
    created_field: str,
    tie_order: random.Random | None = None,
) -> list[dict[str, Any]]:
    """Cut a page out of a listing: skip `offset` records, newest first, take `size`.

    Without `tie_order`, ties come newest id first, the same on every call.
    With it, each group of ties the page touches (whole, also its records on
    the pages around) is put in a random order first, so the page holds what
    one request to an API that sorts on creation time alone would get.

    Args:
        records: The listing, ascending by (creation time, id).
        offset: How many records of the newest-first listing to skip.
        size: How many records, at most.
        created_field: The field holding the creation time.
        tie_order: Orders the ties; None for the stable order.

    Returns:
        The page's records, newest first.
    """
    end = len(records) - offset  # ascending index just past the page's newest
    if end <= 0 or size <= 0:
        return []
    begin = max(end - size, 0)
    if tie_order is None:
        return list(records[begin:end][::-1])
    created = itemgetter(created_field)
    low = bisect.bisect_left(records, created(records[begin]), key=created)
    high = bisect.bisect_right(records, created(records[end - 1]), key=created)
    span = list(records[low:high][::-1])
    for start, stop in _runs(span, created_field):
        run = span[start:stop]
        tie_order.shuffle(run)
        span[start:stop] = run
    newer = high - end  # records of the span on pages before this one
    return span[newer : newer + end - begin]


def _runs(records: Sequence[dict[str, Any]], field: str) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) of each run of two or more records with equal `field`."""
    start = 0
    for index in range(1, len(records) + 1):
        if index == len(records) or records[index][field] != records[start][field]:
            if index - start >= _SMALLEST_GROUP:
                yield start, index
            start = index
