"""What the walk emits when ids repeat, and the count of a walk (no I/O).

An id twice on one page is an answer that does not add up. A copy of an id
emitted before is emitted again only if it is newer (the newest version wins,
whatever order copies come in). A walk that saw the list unchanged must have
read exactly as many distinct records as its total: otherwise one was skipped.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_reviewrover.emission import Emission
from tap_reviewrover.paging import MAX_READS_OF_A_BAD_PAGE, PaginationError
from tests.test_paging import (
    ChangingList,
    Record,
    enrollment,
    make_page,
    new_walk,
    seeded_list,
)

if t.TYPE_CHECKING:
    from tap_reviewrover.paging import Page, PageWalk

SECOND = 1_000_000


def take_all(
    walk: PageWalk[Record],
    answer: t.Callable[[int, int], Page[Record]],
) -> list[Record]:
    """Walk to the end, asking ``answer(page, limit)``; return what it emitted."""
    emitted: list[Record] = []
    while (request := walk.next_request) is not None:
        emitted += walk.accept(answer(*request))
    return emitted


def with_page_two(
    api: ChangingList, change: t.Callable[[list[Record]], list[Record]], times: int
) -> t.Callable[[int, int], Page[Record]]:
    """The API, with page 2's records changed on its first ``times`` answers."""
    told = [0]

    def answer(number: int, limit: int) -> Page[Record]:
        page = api.answer(number, limit)
        if (number, limit) != (2, api.limit) or told[0] >= times:
            return page
        told[0] += 1
        return make_page(
            number,
            limit,
            change(list(page.records)),
            total=page.total,
            reported_number=number,
            reported_limit=limit,
        )

    return answer


def id_twice(records: list[Record]) -> list[Record]:
    """The page with its second record in place of its third."""
    return [*records[:2], dict(records[1]), *records[3:]]


def test_an_id_twice_on_one_page_is_read_again_then_stops_the_walk() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    with pytest.raises(PaginationError, match=r"lists record 19 twice.*\(read 3 times"):
        take_all(walk, with_page_two(api, id_twice, times=MAX_READS_OF_A_BAD_PAGE))
    assert walk.requests == 1 + MAX_READS_OF_A_BAD_PAGE


def test_an_id_twice_on_one_page_once_costs_one_more_read() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = take_all(walk, with_page_two(api, id_twice, times=1))
    assert [record["id"] for record in emitted] == list(range(30, 0, -1))
    assert (walk.requests, walk.inconsistent_rereads) == (4, 1)


def copy_of(record: Record, *, created_second: int, updated_second: int) -> Record:
    """Another copy of a record, at another place, of another version."""
    place = enrollment(record["id"], created_second)
    return {**place, "updated": updated_second * SECOND}


@pytest.mark.parametrize(
    ("first_version", "second_version", "emitted_versions", "dropped", "newer"),
    [
        (20, 10, [20], 1, 0),  # a stale copy after the fresh one: dropped
        (20, 20, [20], 1, 0),  # the same version again: dropped
        (10, 20, [10, 20], 0, 1),  # a newer copy after an older one: emitted
    ],
    ids=["stale-after-fresh", "same-again", "fresh-after-stale"],
)
def test_a_second_copy_of_an_id_is_emitted_only_if_newer(
    first_version: int,
    second_version: int,
    emitted_versions: list[int],
    dropped: int,
    newer: int,
) -> None:
    # Record 25 is listed on page 1 and again, with another creation time, on
    # page 2 (a replica that lags, an API that lists a record twice). The list
    # grows meanwhile, so the walk cannot tell a skipped record by its count.
    api = seeded_list(30, 10)
    api.records[5]["updated"] = first_version * SECOND
    again = copy_of(api.records[5], created_second=15, updated_second=second_version)
    api.records.insert(15, again)

    def create_after_page_one(number: int, limit: int) -> Page[Record]:
        if number == 2:
            api.create()
        return api.answer(number, limit)

    walk = new_walk(api)
    emitted = take_all(walk, create_after_page_one)
    copies = [record["updated"] // SECOND for record in emitted if record["id"] == 25]
    assert copies == emitted_versions
    assert (walk.copies_dropped, walk.newer_copies) == (dropped, newer)
    assert sorted({record["id"] for record in emitted}) == list(range(1, 31))


def test_a_record_updated_while_pushed_down_is_emitted_again_newer() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = walk.accept(api.page(1))
    api.create()
    updated = api.update_at(10)  # record 21, last of page 1: now first of page 2
    emitted += take_all(walk, api.answer)
    copies = [record["updated"] for record in emitted if record["id"] == updated["id"]]
    assert copies == [21 * SECOND, updated["updated"]]
    assert walk.newer_copies == 1


def in_place_of_the_first(records: list[Record], served: Record) -> list[Record]:
    return [dict(served), *records[1:]]


@pytest.mark.parametrize("times", [1, 2])
def test_a_record_served_in_place_of_another_is_caught_by_the_count(
    times: int,
) -> None:
    # Page 2 starts with page 1's last record (as if one had been created) but
    # the total stands: record 20 is never served. Only the count shows it.
    api = seeded_list(30, 10)
    last_of_page_one = api.records[9]
    walk = new_walk(api)
    lying = with_page_two(
        api, lambda records: in_place_of_the_first(records, last_of_page_one), times
    )
    if times == 1:  # the walk reads the list again and gets every record
        emitted = take_all(walk, lying)
        assert sorted({r["id"] for r in emitted}) == list(range(1, 31))
        assert walk.restarts == 1
        assert "the walk read 29 distinct ones" in walk.restart_reason
        return
    with pytest.raises(PaginationError, match="holds 30 records, yet the walk read 29"):
        take_all(walk, lying)


def test_an_unchanging_list_walk_reads_its_total_and_no_more() -> None:
    api = seeded_list(95, 10)
    walk = new_walk(api)
    emitted = take_all(walk, api.answer)
    assert len(emitted) == 95
    assert (walk.requests, walk.restarts, walk.copies_dropped) == (10, 0, 0)


def test_a_short_count_explained_by_a_record_created_meanwhile_costs_one_read() -> None:
    # A record is created and one not read yet deleted between two reads: every
    # total is 30, the walk reads 29 distinct records, and page 1 read once more
    # shows the record created meanwhile: nothing was skipped.
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = walk.accept(api.page(1))
    api.create()
    deleted = api.delete_at(25)
    emitted += take_all(walk, api.answer)
    ids = {record["id"] for record in emitted}
    assert ids == set(range(1, 31)) - {deleted["id"]}
    # Pages 1 to 3, page 1's last record read again whole (page 2, pushed down,
    # starts with it: a tie group split across answers, for all the walk can
    # tell), and page 1 once more; no second walk.
    assert (walk.restarts, walk.tie_reads) == (0, 1)
    assert api.requests[:2] == [(1, 10), (2, 10)]
    assert api.requests[3:] == [(3, 10), (1, 10)]


def test_records_ahead_of_the_walk_are_not_kept_as_emitted_with_the_rest() -> None:
    # Ids 9,000 to 11 emitted first (kept in dense blocks by then), then ids 10
    # to 1 on one page, whole seconds; the first two are ahead of the walk
    # (taken before): the other eight are kept, and 10 and 9 only if newer.
    emission = Emission()
    older = [
        enrollment(record_id, 10_000 - record_id) for record_id in range(9_000, 10, -1)
    ]
    assert len(emission.emit(make_page(2, len(older), older, total=9_000))) == 8_990
    records = [enrollment(record_id, 100 + record_id) for record_id in range(10, 0, -1)]
    page = make_page(2, 10, records, total=10)
    assert page.updated_seconds is not None  # the tap's usual page
    emitted = emission.emit(page, again=[0, 1])
    assert [r["id"] for r in emitted] == list(range(8, 0, -1))
    # Served again as new, 10 and 9 go out: they were never emitted.
    again = make_page(2, 10, records[:2], total=10)
    assert [r["id"] for r in emission.emit(again)] == [10, 9]
