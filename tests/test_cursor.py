"""How a pass takes a page's records past its cursor (`tap_reviewrover.cursor`)."""

from __future__ import annotations

import random
import typing as t

import pytest

from tap_reviewrover.cursor import Cursor, taken_past
from tap_reviewrover.page_answers import Page


def taken_one_by_one(
    created: list[int], ids: list[int], cursor: int | None, at_cursor: set[object]
) -> tuple[int | None, set[object], list[int]]:
    """The rule, a record at a time: newer than the cursor, or at it and new."""
    at_cursor = set(at_cursor)
    again = []
    for index, (record_id, key) in enumerate(zip(ids, created, strict=True)):
        if cursor is None or key < cursor:
            cursor, at_cursor = key, {record_id}
        elif key == cursor and record_id not in at_cursor:
            at_cursor.add(record_id)
        else:
            again.append(index)
    return cursor, at_cursor, again


def a_page(rng: random.Random) -> tuple[list[int], list[int], int | None, set[object]]:
    """Keys mostly newest first with ties; sometimes out of order or an id twice."""
    size = rng.randint(0, 12)
    key = rng.randint(50, 60)
    created, ids = [], []
    for _ in range(size):
        key -= rng.choice([0, 0, 1, 2]) if rng.random() > 0.1 else -1
        created.append(key)
        ids.append(
            rng.randint(1, 40) if rng.random() < 0.2 else rng.randint(100, 10**6)
        )
    cursor = rng.choice([None, *range(45, 65)])
    at_cursor: set[object] = set(rng.sample(range(1, 40), 3)) if cursor else set()
    return created, ids, cursor, at_cursor


def test_a_page_is_taken_as_the_one_by_one_rule_takes_it() -> None:
    for seed in range(1000):
        created, ids, cursor, at_cursor = a_page(random.Random(seed))  # noqa: S311 - seeded test data
        expected = taken_one_by_one(created, ids, cursor, at_cursor)
        taken = taken_past(created, ids, cursor, set(at_cursor))
        assert taken == expected, f"seed {seed}: {created=} {ids=} {cursor=}"


@pytest.mark.parametrize(
    ("created", "ids", "cursor", "at_cursor", "expected"),
    [
        # The usual page: past the cursor, newest first; the last key's ids.
        ([9, 8, 8], [3, 2, 1], 10, {7}, (8, {2, 1}, [])),
        ([9, 8, 8], [3, 2, 1], None, set(), (8, {2, 1}, [])),
        # Starts at the cursor: the ids taken at it already are not taken again.
        ([10, 10, 9], [7, 6, 5], 10, {7}, (9, {5}, [0])),
        # An id twice at one key: the second is not taken.
        ([9, 9, 8], [3, 3, 1], 10, set(), (8, {1}, [1])),
        # Newer than the one before it: pushed down, or created since.
        ([9, 11, 8], [3, 4, 1], 10, set(), (8, {1}, [1])),
        ([], [], 10, {7}, (10, {7}, [])),
    ],
)
def test_the_named_pages(
    created: list[int],
    ids: list[int],
    cursor: int | None,
    at_cursor: set[object],
    expected: tuple[t.Any, ...],
) -> None:
    assert taken_past(created, ids, cursor, set(at_cursor)) == expected
    assert taken_one_by_one(created, ids, cursor, at_cursor) == expected


def a_list_page(
    number: int, created: list[int], ids: list[int], total: int
) -> Page[int]:
    return Page(
        number=number,
        limit=10,
        records=ids,
        created=created,
        ids=ids,
        total=total,
        total_pages=-(-total // 10),
    )


@pytest.mark.parametrize(
    ("created", "ids", "joins"),
    [
        ([50, 49], [7, 8], True),  # the cursor's own record again: it overlaps
        ([50, 49], [9, 8], False),  # at the cursor's key, but never taken
        ([51, 49], [9, 8], True),  # newer than the cursor: it overlaps
        ([49, 48], [9, 8], False),  # all past the cursor
        ([49, 50], [9, 7], True),  # out of order, the cursor's record last
    ],
)
def test_a_page_joins_when_it_serves_the_cursors_records_again(
    created: list[int], ids: list[int], *, joins: bool
) -> None:
    # The total fell below the anchor's: without an overlap, records may have
    # slid up past this page, so it joins only by serving what was taken.
    cursor = Cursor()
    cursor.key, cursor.ids_at_key, cursor.page, cursor.anchor_total = 50, {7}, 3, 100
    assert cursor.joins(a_list_page(4, created, ids, total=90)) is joins
