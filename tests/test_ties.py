"""Ties in a new order on every request: the walk is exact, or stops (no I/O).

An API that sorts on ``created_at`` alone may serve the records of one creation
time in a different order on every request: two pages that split such a group
can serve one record twice and another never. The walk reads such a group again
in one answer (or in rounds when it is larger than a page). The property test
walks thousands of random lists whose tie groups straddle page boundaries, with
and without changes between reads, in page order and with pages read ahead out
of order: each walk emits every record present for the whole walk, nothing that
never existed, and an id twice only as a newer version; or it stops with a
PaginationError. Never a silent short walk.

The suite runs ``TIE_SEEDS`` seeds a mode (300 by default); run many more once
with ``TIE_SEEDS=20000 .venv/bin/pytest tests/test_ties.py``.
"""

from __future__ import annotations

import collections
import os
import random
import re
import typing as t
from dataclasses import dataclass, field

import pytest

from tap_reviewrover.paging import PageWalk, PaginationError
from tests.test_paging import (
    CREATED_DURING_THE_WALK,
    ChangingList,
    Record,
    enrollment,
    make_page,
    new_walk,
    seeded_list,
    walk_ahead,
    walk_all,
)

SEEDS = int(os.environ.get("TIE_SEEDS", "300"))
#: Seeds walked by one test (a test per seed would cost more than the walks).
BATCH = 50


def tied_list(
    sizes: list[int], limit: int, shuffle: t.Callable[[list[Record]], None]
) -> ChangingList:
    """A list of groups of ``sizes`` records sharing a creation second, newest first.

    Ids count down from the total, so the newest record has the largest id.
    """
    seconds = [10_000 - group for group, size in enumerate(sizes) for _ in range(size)]
    records = [
        enrollment(record_id, second)
        for record_id, second in zip(range(len(seconds), 0, -1), seconds, strict=True)
    ]
    return ChangingList(records=records, limit=limit, reshuffle=shuffle)


def group_sizes(rng: random.Random, count: int, limit: int) -> list[int]:
    """Random tie groups: mostly single records, some pairs, a few large ones."""
    sizes: list[int] = []
    while sum(sizes) < count:
        draw = rng.random()
        if draw < 0.6:
            size = 1
        elif draw < 0.85:
            size = 2
        elif draw < 0.96:
            size = rng.randint(3, max(3, limit))
        else:
            size = rng.randint(limit + 1, 3 * limit)  # more than a page holds
        sizes.append(min(size, count - sum(sizes)))
    return sizes


@dataclass
class TiedScenario:
    """A random tied list, reshuffled on every request, maybe changing as read."""

    rng: random.Random
    changes: bool
    api: ChangingList = field(init=False)
    initial: list[int] = field(init=False)
    present_throughout: set[int] = field(init=False)
    ever: set[int] = field(init=False)

    def __post_init__(self) -> None:
        """Seed a list of 0 to 120 records on pages of 2 to 25."""
        rng = self.rng
        limit = rng.choice([2, 3, 4, 5, 6, 8, 10, 12, 25])
        count = rng.randint(0, min(120, 12 * limit))
        shuffle = random.Random(rng.random()).shuffle  # noqa: S311
        self.api = tied_list(group_sizes(rng, count, limit), limit, shuffle)
        self.initial = [record["id"] for record in self.api.records]
        self.present_throughout = set(self.initial)
        self.ever = set(self.initial)

    def between_reads(self, _: int) -> None:
        """Create (at times several in one second), delete or update records."""
        if not self.changes:
            return
        rng, api = self.rng, self.api
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            draw = rng.random()
            if draw < 0.4 or not api.records:
                self.ever.add(api.create(tied=rng.random() < 0.3)["id"])
            elif draw < 0.75:
                deleted = api.delete_at(rng.randrange(len(api.records)))
                self.present_throughout.discard(deleted["id"])
            else:
                api.update_at(rng.randrange(len(api.records)))


def check_exact(scenario: TiedScenario, emitted: list[Record]) -> None:
    """Every record present throughout, nothing invented, repeats only newer."""
    ids = [record["id"] for record in emitted]
    assert scenario.present_throughout <= set(ids)
    assert set(ids) <= scenario.ever
    versions: dict[int, int] = {}
    for record in emitted:
        before = versions.get(record["id"])
        assert before is None or record["updated"] > before, record
        versions[record["id"]] = record["updated"]
    if not scenario.changes:
        assert sorted(ids) == sorted(scenario.initial)


@dataclass
class Outcome:
    """How one seeded walk ended, and what it cost.

    Attributes:
        stopped: The PaginationError's words, if the walk stopped.
        pages: Pages the list had when the walk started.
        requests: Requests the API answered (pages fetched ahead and dropped
            as stale included).
        tie_reads: Answers taken to read tie groups whole.
    """

    stopped: str | None
    pages: int
    requests: int
    tie_reads: int


def walk_seed(seed: int, *, read_ahead: bool, changes: bool) -> Outcome:
    """Walk one seeded scenario; check it is exact unless it stopped."""
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    scenario = TiedScenario(rng, changes)
    emitted: list[Record] = []

    def walk() -> tuple[list[int], PageWalk[Record]]:
        if read_ahead:
            window = rng.randint(2, 6)
            return walk_ahead(
                scenario.api,
                scenario.between_reads,
                window=window,
                rng=rng,
                records=emitted,
            )
        return walk_all(scenario.api, scenario.between_reads, records=emitted)

    pages = -(-len(scenario.initial) // scenario.api.limit)
    try:
        _, finished = walk()
    except PaginationError as error:
        return Outcome(str(error), pages, len(scenario.api.requests), 0)
    check_exact(scenario, emitted)
    return Outcome(None, pages, len(scenario.api.requests), finished.tie_reads)


def stops_in(batch: int, *, read_ahead: bool, changes: bool) -> dict[int, str]:
    """Walk a batch of seeds (each checked if it ends); return the clean stops."""
    stops: dict[int, str] = {}
    for seed in range(batch * BATCH, min(SEEDS, (batch + 1) * BATCH)):
        try:
            outcome = walk_seed(seed, read_ahead=read_ahead, changes=changes)
        except AssertionError as error:
            msg = f"seed {seed}: {error}"
            raise AssertionError(msg) from error
        if outcome.stopped is not None:
            stops[seed] = outcome.stopped
    return stops


@pytest.mark.parametrize("batch", range(-(-SEEDS // BATCH)))
@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-order", "read-ahead"])
def test_reshuffled_ties_of_an_unchanging_list_are_read_exactly(
    batch: int,
    read_ahead: bool,  # noqa: FBT001
) -> None:
    assert stops_in(batch, read_ahead=read_ahead, changes=False) == {}


@pytest.mark.parametrize("batch", range(-(-SEEDS // BATCH)))
@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-order", "read-ahead"])
def test_reshuffled_ties_of_a_changing_list_end_exact_or_in_a_clean_stop(
    batch: int,
    read_ahead: bool,  # noqa: FBT001
) -> None:
    stops = stops_in(batch, read_ahead=read_ahead, changes=True)  # the others exact
    assert len(stops) <= BATCH // 10, stops  # clean stops stay the exception


def tally(seeds: t.Iterable[int]) -> dict[str, collections.Counter[str]]:
    """Outcomes of many seeds in every mode, for a report (not a test)."""
    counts: dict[str, collections.Counter[str]] = {}
    for read_ahead in (False, True):
        for changes in (False, True):
            mode = f"{'read-ahead' if read_ahead else 'in-order'}, " + (
                "changing" if changes else "unchanging"
            )
            counter = counts.setdefault(mode, collections.Counter())
            for seed in seeds:
                outcome = walk_seed(seed, read_ahead=read_ahead, changes=changes)
                if outcome.stopped is None:
                    counter["exact"] += 1
                else:
                    counter["stopped: " + _reason(outcome.stopped)] += 1
                counter["pages"] += outcome.pages
                counter["requests"] += outcome.requests
                counter["tie reads"] += outcome.tie_reads
    return counts


def _reason(stopped: str) -> str:
    """A stop's words without the numbers and keys that vary from seed to seed."""
    return re.sub(r"\b[\dT:Z-]+\b", "#", stopped)[:90]


class AlternatingOrder:
    """Each tie group in its list order on one request, reversed on the next."""

    def __init__(self) -> None:
        """No request yet."""
        self.calls: collections.Counter[str] = collections.Counter()

    def __call__(self, ties: list[Record]) -> None:
        """Order one group for one answer."""
        key = ties[0]["created_at"]
        if self.calls[key] % 2:
            ties.reverse()
        self.calls[key] += 1


def served_on_pages(api: ChangingList, pages: int) -> set[int]:
    """The ids the first ``pages`` pages served, answered as the list stands."""
    ids: set[int] = set()
    for number in range(1, pages + 1):
        ids.update(record["id"] for record in api.answer(number, api.limit).records)
    api.reads.clear()
    api.requests.clear()
    return ids


def test_a_tie_group_split_by_a_page_boundary_is_read_again_in_one_answer() -> None:
    # Records 12, 11 and 10 share a second at places 8 to 10; page 1 serves
    # 12 and 11, page 2 (reversed) serves 12 again at place 10: 10 never.
    api = tied_list([1] * 8 + [3] + [1] * 9, 10, AlternatingOrder())
    assert served_on_pages(api, 2) == set(range(1, 21)) - {10}
    emitted, walk = walk_all(api)
    assert sorted(emitted) == list(range(1, 21))
    # One more request: a page of 6 whose places 6 to 11 hold the group and
    # one record beyond each edge.
    assert api.requests == [(1, 10), (2, 10), (2, 6)]
    assert walk.tie_reads == 1


@pytest.mark.parametrize("seed", range(20))
def test_tie_groups_across_several_boundaries_are_read_again_when_split(
    seed: int,
) -> None:
    # Pairs across the boundaries of pages 1|2 and 2|3, and 9 records across
    # those of pages 3|4 and 4|5: more than a page of 5 holds, not more than
    # the API's largest page.
    # The 9 span three answers: read again always. A pair, only when the page
    # after served one of it again (the other was then never served).
    sizes = [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 9, 1, 1, 1]
    shuffle = random.Random(seed).shuffle  # noqa: S311
    api = tied_list(sizes, 5, shuffle)
    emitted, walk = walk_all(api)
    assert sorted(emitted) == list(range(1, 26))
    assert 1 <= walk.tie_reads <= 3
    assert len(api.requests) == 5 + walk.tie_reads


def test_tie_groups_in_a_stable_order_cost_no_request() -> None:
    # Pairs across the boundaries of pages 1|2 and 2|3, listed the same way on
    # every request: page 2 serves the record of a pair page 1 did not, the
    # total stands, so the two pages served the whole pair.
    api = tied_list([1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1], 5, lambda _: None)
    emitted, walk = walk_all(api)
    assert sorted(emitted) == list(range(1, 16))
    assert walk.tie_reads == 0
    assert api.requests == [(1, 5), (2, 5), (3, 5)]


def test_a_tie_group_that_ends_the_list_is_read_to_its_end() -> None:
    # Records 4 to 1 share a second at places 8 to 11 (the last): page 2 serves
    # 1 and 2, page 3 (in the other order) 2 and 1 again.
    api = tied_list([1] * 8 + [4], 5, AlternatingOrder())
    assert served_on_pages(api, 3) == set(range(1, 13)) - {3, 4}
    emitted, walk = walk_all(api)
    assert sorted(emitted) == list(range(1, 13))
    number, limit = api.requests[-1]
    first_place, last_place = 7, 11  # the record before the group, the last
    assert (number - 1) * limit <= first_place < last_place < number * limit
    assert walk.tie_reads == 1


@pytest.mark.parametrize("seed", range(5))
def test_a_tie_group_larger_than_a_page_is_read_in_rounds(seed: int) -> None:
    # 150 records of one second, more than the largest page (100): their pages
    # are read again in order until as many distinct ones as their places.
    api = tied_list([1] * 30 + [150] + [1] * 30, 100, random.Random(seed).shuffle)  # noqa: S311
    emitted, walk = walk_all(api)
    assert sorted(emitted) == list(range(1, 211))
    assert walk.tie_reads >= 2 * 2 + 1  # two rounds of two pages, and one more
    assert set(api.requests[2:-1]) == {(1, 100), (2, 100)}  # then page 3
    assert api.requests[-1] == (3, 100)


def test_a_large_tie_group_created_during_the_sync_is_a_clean_stop() -> None:
    api = tied_list([150, 10], 100, random.Random(1).shuffle)  # noqa: S311
    with pytest.raises(PaginationError, match="150 records share the creation"):
        walk_all(api, created_since_start=api.records[-1]["created_at"])


class SetOrder:
    """Tie groups in the order a test sets before each answer."""

    def __init__(self) -> None:
        """No order set: list order."""
        self.orders: dict[str, list[int]] = {}

    def __call__(self, ties: list[Record]) -> None:
        """Order one group for one answer."""
        order = self.orders.get(ties[0]["created_at"])
        if order:
            ties.sort(key=lambda record: order.index(record["id"]))


def test_an_overlap_hidden_by_reordered_ties_makes_pages_fetched_ahead_stale() -> None:
    # Pages of 2: a, b | g g | g h | h x | y z | w, with g = {9, 8, 7} and
    # h = {6, 5} each of one second. Page 5 is answered, then a record is
    # created and w deleted (the total stands), then page 4: it starts with a
    # place page 3 held, served as g's record 7, never taken: an overlap that
    # does not show. Page 5, answered before the change, would skip record 5.
    order = SetOrder()
    api = tied_list([1, 1, 3, 2, 1, 1, 1, 1], 2, order)
    g, h = api.records[2]["created_at"], api.records[5]["created_at"]
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.answer(1, 2))]
    order.orders[g] = [9, 8, 7]
    emitted += [r["id"] for r in walk.accept(api.answer(2, 2))]
    api.create()
    order.orders[g] = [7, 9, 8]
    emitted += [r["id"] for r in walk.accept(api.answer(3, 2))]  # 9, 8 again
    assert walk.pages_ahead(2) == [(4, 2), (5, 2)]
    requested_in = walk.epoch
    page_five = api.answer(5, 2)
    api.create()
    api.delete_at(len(api.records) - 1)
    order.orders[g], order.orders[h] = [9, 8, 7], [6, 5]
    emitted += [r["id"] for r in walk.accept(api.answer(4, 2))]  # 7, 6
    assert walk.epoch != requested_in, "page 5, answered before, must be read again"
    while (request := walk.next_request) is not None:
        stale = request == (5, 2) and walk.epoch == requested_in
        page = page_five if stale else api.answer(*request)
        emitted += [r["id"] for r in walk.accept(page)]
    assert sorted(emitted) == list(range(2, 12))


def walk_with_page_four_ahead(
    change: t.Callable[[ChangingList], None],
) -> tuple[list[int], PageWalk[Record], int, int]:
    """Walk pages of 3 with page 4 fetched ahead, and ``change`` before page 3.

    Records 12 and 11 share a second at places 5 and 6: page 2 serves 12 last,
    page 3 serves the group in the other order (12 again first, 11 never, if
    nothing changed). The walk goes on with page 4 as fetched after page 2,
    unless its epoch changed since.

    Returns:
        The ids emitted, the walk, the epoch page 4 was fetched in, and the
        epoch when page 4 was taken.
    """
    order = SetOrder()
    api = tied_list([1] * 5 + [2] + [1] * 10, 3, order)
    g = api.records[5]["created_at"]
    walk = new_walk(api)
    order.orders[g] = [12, 11]
    emitted = [r["id"] for r in walk.accept(api.answer(1, 3))]
    emitted += [r["id"] for r in walk.accept(api.answer(2, 3))]  # ..., 12
    fetched_in, page_four = walk.epoch, api.answer(4, 3)
    change(api)
    order.orders[g] = [11, 12]
    taken_in = -1
    while (request := walk.next_request) is not None:
        fresh = request != (4, 3) or walk.epoch != fetched_in
        if request == (4, 3):
            taken_in = walk.epoch
        page = api.answer(*request) if fresh else page_four
        emitted += [r["id"] for r in walk.accept(page)]
    return emitted, walk, fetched_in, taken_in


def test_a_group_read_whole_where_it_was_keeps_pages_fetched_ahead() -> None:
    # Nothing changed: page 3 serves 12 again, a tie group split in two orders.
    # Its read shows it where page 2 saw it start, with the same total: nothing
    # moved, and page 4 as fetched ahead is taken.
    emitted, walk, fetched_in, taken_in = walk_with_page_four_ahead(lambda _: None)
    assert sorted(emitted) == list(range(1, 18))
    assert taken_in == fetched_in
    assert walk.tie_reads == 1


def test_a_group_read_whole_elsewhere_makes_pages_fetched_ahead_stale() -> None:
    # A record created and the last deleted (the total stands) before page 3:
    # its first place is page 2's last, served as record 11 or 12 of the group.
    # The group's read finds it a place lower: page 4, fetched before, is
    # fetched again (as fetched, it would skip the record that slid onto it).
    def create_and_delete_the_last(api: ChangingList) -> None:
        api.create()
        api.delete_at(len(api.records) - 1)

    emitted, _, fetched_in, taken_in = walk_with_page_four_ahead(
        create_and_delete_the_last
    )
    assert taken_in != fetched_in
    assert set(range(2, 18)) <= set(emitted)


def test_a_tie_group_pushed_down_before_its_read_is_placed_again() -> None:
    # Records 12, 11 and 10 share a second at places 8 to 10; page 2 serves 12
    # again. Six records are created before the group's read: the answer meant
    # to hold it holds newer records only, and the walk reads it again lower.
    api = tied_list([1] * 8 + [3] + [1] * 9, 10, AlternatingOrder())

    def create_six_before_the_third_request(read: int) -> None:
        if read == len(api.reads) + 1 == 3:
            for _ in range(6):
                api.create()

    emitted, walk = walk_all(api, create_six_before_the_third_request)
    assert set(range(1, 21)) <= set(emitted)
    assert len(emitted) == len(set(emitted))
    assert walk.tie_reads >= 2


def test_a_large_tie_group_that_loses_a_record_between_two_reads_is_read_again() -> (
    None
):
    # The API caps pages at 5 (it says so), so records 14 to 9, one second at
    # places 3 to 8, are more than a page: they are read in rounds of pages 1
    # and 2. Pages 1 and 2 served 14, 13, 11 and 10; round 1 serves 12 and 14
    # on page 1, then 12 is deleted and page 2 serves 13, 11 and 10. Five
    # distinct records for places 3 to 7 (five, now), yet 9 was never served:
    # the two answers disagree on the total, and the group is read again.
    order = SetOrder()
    api = tied_list([1, 1, 1, 6] + [1] * 8, 5, order)
    g = api.records[3]["created_at"]
    steps = {
        1: [14, 13, 12, 11, 10, 9],
        2: [12, 9, 14, 13, 11, 10],
        3: [12, 14, 13, 11, 10, 9],
        4: [9, 14, 13, 11, 10],
    }
    walk: PageWalk[Record] = PageWalk(20)  # the API serves 5, and says so
    walk.created_since_start = CREATED_DURING_THE_WALK
    first = api.answer(1, 5)
    declared = make_page(
        1, 20, list(first.records), total=17, total_pages=4, reported_limit=5
    )
    order.orders[g] = steps[1]
    emitted = [r["id"] for r in walk.accept(declared)]
    answered = 1
    while (request := walk.next_request) is not None:
        answered += 1
        order.orders[g] = steps.get(answered, steps[4])
        emitted += [r["id"] for r in walk.accept(api.answer(*request))]
        if answered == 3:  # round 1's first answer
            api.delete_at(
                api.records.index(next(r for r in api.records if r["id"] == 12))
            )
    assert set(range(1, 18)) - {12} <= set(emitted)
    assert walk.adapted == ("declared", 5)


def test_a_record_created_between_two_reads_costs_no_extra_request() -> None:
    # Page 2 starts with page 1's last record, pushed down: one record of its
    # creation time, and the total grew by one. Page 2 was asked for after
    # page 1 was taken, so page 1 held that record's whole group.
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.answer(1, 10))]
    api.create()
    while (request := walk.next_request) is not None:
        emitted += [r["id"] for r in walk.accept(api.answer(*request))]
    assert sorted(emitted) == list(range(1, 31))
    assert api.requests == [(1, 10), (2, 10), (3, 10), (4, 10)]
    assert walk.tie_reads == 0


def test_with_pages_asked_for_ahead_a_pushed_down_record_is_read_again() -> None:
    # The same, with page 2 named for reading ahead before page 1 was taken:
    # its answer may be the older one, and the total's growth proves nothing.
    api = seeded_list(30, 10)
    walk = new_walk(api)
    assert walk.pages_ahead(2) == [(1, 10)]  # before page 1, only page 1
    walk.accept(api.answer(1, 10))
    assert walk.pages_ahead(2) == [(2, 10), (3, 10)]
    walk.accept(api.answer(2, 10))  # page 3 named before page 2 was taken
    api.create()
    while (request := walk.next_request) is not None:
        walk.accept(api.answer(*request))
    assert walk.tie_reads == 1


def test_a_split_tie_group_that_gains_a_record_meanwhile_is_read_again() -> None:
    # Records 11 and 10 were created in one second a moment before the sync
    # (so, for all the walk knows, during it), at places 9 and 10. Page 1
    # serves 11; then 30 is created in that same second, and page 2 serves 11
    # again and 30: one record served again, one more in the total, yet 10
    # was never served. A group created during the sync may gain records, so
    # the total's growth proves nothing: the group is read again.
    order = SetOrder()
    records = [enrollment(20 - place, 60_100 - place) for place in range(9)]
    group = [enrollment(11, 60_050), enrollment(10, 60_050)]
    records += group + [enrollment(9 - place, 60_040 - place) for place in range(9)]
    api = ChangingList(records=records, limit=10, reshuffle=order)
    order.orders[group[0]["created_at"]] = [11, 10]
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.answer(1, 10))]
    api.records.insert(10, enrollment(30, 60_050))
    order.orders[group[0]["created_at"]] = [10, 11, 30]
    while (request := walk.next_request) is not None:
        emitted += [r["id"] for r in walk.accept(api.answer(*request))]
    assert set(range(1, 21)) <= set(emitted)
    assert walk.tie_reads == 1
