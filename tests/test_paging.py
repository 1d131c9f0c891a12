"""The page walk: drift recovery, de-duplication and loop guards (no I/O)."""

from __future__ import annotations

import random
import typing as t
from dataclasses import dataclass, field

import pytest

from tap_reviewrover.paging import (
    Page,
    PageWalk,
    PaginationError,
    UnexpectedResponseError,
    creation_key,
)

Record = dict[str, t.Any]


def enrollment(record_id: int, created_second: int) -> Record:
    """An enrollment created ``created_second`` seconds into 2025-01-01."""
    minutes, seconds = divmod(created_second, 60)
    hours, minutes = divmod(minutes, 60)
    return {
        "id": record_id,
        "created_at": f"2025-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}Z",
    }


@dataclass
class ChangingList:
    """An API list that test scenarios change between page reads."""

    records: list[Record]  # newest first, as the API lists them
    limit: int
    next_id: int = 10_000
    next_second: int = 50_000
    reads: list[int] = field(default_factory=list)

    def page(self, number: int) -> Page:
        """Answer a list request for ``number``, as the list stands now."""
        self.reads.append(number)
        start = (number - 1) * self.limit
        total = len(self.records)
        return Page(
            number=number,
            records=[dict(r) for r in self.records[start : start + self.limit]],
            total=total,
            total_pages=-(-total // self.limit),
            reported_number=number,
        )

    def create(self) -> Record:
        """Create an enrollment; it lands at the front."""
        self.next_id += 1
        self.next_second += 1
        record = enrollment(self.next_id, self.next_second)
        self.records.insert(0, record)
        return record

    def delete_at(self, position: int) -> Record:
        """Delete the enrollment at ``position``; later ones move up."""
        return self.records.pop(position)


def seeded_list(count: int, limit: int, *, ties: bool = False) -> ChangingList:
    # Ties: pairs of records share a creation second, listed in either id order.
    records = [
        enrollment(record_id, record_id // 2 if ties else record_id)
        for record_id in range(count, 0, -1)
    ]
    return ChangingList(records=records, limit=limit)


def walk_all(
    api: ChangingList,
    between_reads: t.Callable[[int], None] = lambda _: None,
) -> tuple[list[int], PageWalk]:
    """Walk the list, calling ``between_reads(read_number)`` before each read."""
    walk = PageWalk()
    emitted: list[int] = []
    while walk.next_page is not None:
        between_reads(len(api.reads) + 1)
        emitted.extend(record["id"] for record in walk.accept(api.page(walk.next_page)))
    return emitted, walk


def walk_ahead(
    api: ChangingList,
    between_reads: t.Callable[[int], None],
    *,
    window: int,
    rng: random.Random,
) -> tuple[list[int], PageWalk]:
    """Walk with up to ``window`` pages requested at once, read in any order.

    Each step the API answers one of the pending requests, chosen at random, as
    the list stands at that moment: requests made together reach it in any order.
    """
    walk = PageWalk()
    emitted: list[int] = []
    pending: list[tuple[int, int]] = []  # (epoch, page) requested, not yet read
    answered: dict[tuple[int, int], Page] = {}
    while walk.next_page is not None:
        for number in walk.pages_ahead(window):
            request = (walk.epoch, number)
            if request not in pending and request not in answered:
                pending.append(request)
        turn = (walk.epoch, walk.next_page)
        if turn not in answered:
            request = pending.pop(rng.randrange(len(pending)))
            between_reads(len(api.reads) + 1)
            answered[request] = api.page(request[1])
            continue
        page = answered.pop(turn)
        emitted.extend(record["id"] for record in walk.accept(page))
        # Requests made before a re-anchor are stale: forget them.
        pending = [request for request in pending if request[0] == walk.epoch]
        answered = {k: v for k, v in answered.items() if k[0] == walk.epoch}
    return emitted, walk


@pytest.mark.parametrize("window", [2, 3, 8])
@pytest.mark.parametrize(
    ("count", "limit"), [(0, 10), (1, 10), (10, 10), (11, 10), (95, 10)]
)
def test_unchanging_list_read_ahead_takes_one_request_per_page(
    count: int,
    limit: int,
    window: int,
) -> None:
    api = seeded_list(count, limit)
    emitted, walk = walk_ahead(
        api,
        lambda _: None,
        window=window,
        rng=random.Random(count),  # noqa: S311
    )
    assert emitted == [record["id"] for record in api.records]
    assert len(api.reads) == max(1, -(-count // limit))
    assert walk.drift_rereads == 0


def test_an_insert_and_a_deletion_between_reads_out_of_order_lose_nothing() -> None:
    # Page 3 is read first; then one enrollment is created and one on page 4
    # deleted (the total is unchanged), and page 2 is read: it now ends one
    # record higher, and a plain walk would never see the record in between.
    api = seeded_list(40, 10)
    present_throughout = {record["id"] for record in api.records}
    walk = PageWalk()
    emitted = [r["id"] for r in walk.accept(api.page(1))]
    assert walk.next_page == 2
    epoch = walk.epoch
    page_three = api.page(3)
    api.create()
    present_throughout.discard(api.delete_at(35)["id"])
    page_two = api.page(2)
    emitted += [r["id"] for r in walk.accept(page_two)]
    assert walk.epoch != epoch, "the overlap on page 2 must make page 3 stale"
    while walk.next_page is not None:
        emitted += [r["id"] for r in walk.accept(api.page(walk.next_page))]
    assert page_three.records[0]["id"] not in emitted[:20]
    assert present_throughout <= set(emitted)
    assert len(emitted) == len(set(emitted))


@pytest.mark.parametrize(
    ("count", "limit", "expected_requests"),
    [(0, 10, 1), (1, 10, 1), (10, 10, 1), (11, 10, 2), (95, 10, 10), (100, 100, 1)],
)
def test_unchanging_list_takes_one_request_per_page(
    count: int,
    limit: int,
    expected_requests: int,
) -> None:
    api = seeded_list(count, limit)
    emitted, walk = walk_all(api)
    assert emitted == [record["id"] for record in api.records]
    assert walk.requests == expected_requests == len(api.reads)
    assert walk.drift_rereads == 0


def test_deletion_on_a_page_already_read_does_not_skip_the_record_that_slides_up() -> (
    None
):
    api = seeded_list(30, 10)
    original = {record["id"] for record in api.records}
    deleted: list[Record] = []

    def delete_on_page_one_before_second_read(read: int) -> None:
        if read == 2:
            deleted.append(api.delete_at(3))

    emitted, walk = walk_all(api, delete_on_page_one_before_second_read)
    # Record 20 (first of page 2) slid onto page 1 after page 1 was read.
    assert set(emitted) == original - {deleted[0]["id"]} | {deleted[0]["id"]}
    assert len(emitted) == len(set(emitted))
    assert walk.drift_rereads == 1
    assert api.reads == [1, 2, 1, 2, 3]


def test_many_deletions_step_back_several_pages() -> None:
    api = seeded_list(60, 10)
    survivors: set[int] = set()

    def delete_25_early_records_before_read_four(read: int) -> None:
        if read == 4:
            for _ in range(25):
                api.delete_at(0)

    emitted, walk = walk_all(api, delete_25_early_records_before_read_four)
    survivors = {record["id"] for record in api.records}
    assert survivors <= set(emitted)
    assert len(emitted) == len(set(emitted))
    assert walk.drift_rereads >= 3


def test_insertions_push_records_down_without_duplicates() -> None:
    api = seeded_list(30, 10)
    original = [record["id"] for record in api.records]

    def create_three_before_each_read(read: int) -> None:
        if read > 1:
            for _ in range(3):
                api.create()

    emitted, walk = walk_all(api, create_three_before_each_read)
    assert emitted == original  # each once, in order; new ones wait for next sync
    assert walk.drift_rereads == 0


def test_records_sharing_a_creation_second_are_emitted_once_each() -> None:
    api = seeded_list(40, 7, ties=True)

    def create_one_before_each_read(read: int) -> None:
        if read > 1:
            api.create()

    original = {record["id"] for record in api.records}
    emitted, _ = walk_all(api, create_one_before_each_read)
    assert set(emitted) >= original
    assert len(emitted) == len(set(emitted))


@dataclass
class RandomChurn:
    """A random list, and random inserts and deletes to make between reads."""

    rng: random.Random
    changes_per_read: list[int]
    delete_share: float
    api: ChangingList = field(init=False)
    present_throughout: set[int] = field(init=False)

    def __post_init__(self) -> None:
        """Seed a list of 0 to 80 records on pages of 2 to 12, ties or not."""
        rng = self.rng
        self.api = seeded_list(
            rng.randint(0, 80), rng.randint(2, 12), ties=rng.random() < 0.5
        )
        self.present_throughout = {record["id"] for record in self.api.records}

    def between_reads(self, _: int) -> None:
        """Make a few changes, as ``between_reads`` of a walk."""
        for _ in range(self.rng.choice(self.changes_per_read)):
            if self.api.records and self.rng.random() < self.delete_share:
                position = self.rng.randrange(len(self.api.records))
                self.present_throughout.discard(self.api.delete_at(position)["id"])
            else:
                self.api.create()


@pytest.mark.parametrize("seed", range(300))
def test_random_changes_never_lose_a_record_present_for_the_whole_sync(
    seed: int,
) -> None:
    # Up to a few changes between two reads of pages of 2 to 12 records: far
    # more churn, relative to the page size, than a real account sees.
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    churn = RandomChurn(rng, changes_per_read=[0, 0, 1, 2, 3], delete_share=0.6)
    emitted, _ = walk_all(churn.api, churn.between_reads)
    assert churn.present_throughout <= set(emitted)
    assert len(emitted) == len(set(emitted))


@pytest.mark.parametrize("seed", range(300))
def test_random_changes_with_pages_read_out_of_order_never_lose_a_record(
    seed: int,
) -> None:
    # As above, with up to 6 pages requested at once and read in any order.
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    churn = RandomChurn(rng, changes_per_read=[0, 0, 0, 1, 2], delete_share=0.5)
    emitted, _ = walk_ahead(
        churn.api, churn.between_reads, window=rng.randint(2, 6), rng=rng
    )
    assert churn.present_throughout <= set(emitted)
    assert len(emitted) == len(set(emitted))


def test_a_page_that_answers_for_another_page_is_an_error() -> None:
    walk = PageWalk()
    page = Page(number=1, records=[], total=30, total_pages=3, reported_number=2)
    with pytest.raises(PaginationError, match="asked for page 1"):
        walk.accept(page)


def test_an_api_ignoring_the_page_parameter_is_an_error_not_a_short_sync() -> None:
    api = seeded_list(30, 10)
    walk = PageWalk()
    first = api.page(1)
    walk.accept(first)
    repeated = Page(
        number=2,
        records=first.records,
        total=first.total,
        total_pages=first.total_pages,
    )
    with pytest.raises(PaginationError, match="not honouring the 'page' parameter"):
        walk.accept(repeated)


def test_records_out_of_creation_order_are_an_error() -> None:
    records = [enrollment(1, 10), enrollment(2, 20)]
    with pytest.raises(PaginationError, match="newest-created first"):
        PageWalk().accept(Page(number=1, records=records, total=2, total_pages=1))


def test_a_list_that_never_stops_changing_ends_with_an_error_not_a_hang() -> None:
    api = seeded_list(50, 10)

    def delete_before_every_read(read: int) -> None:
        if read > 1 and api.records:
            api.delete_at(0)
            api.create()
            api.delete_at(1)

    with pytest.raises(PaginationError, match="kept changing"):
        walk_all(api, delete_before_every_read)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([], "expected a JSON object"),
        ({"pagination": {"total": 0, "total_pages": 0}}, "'enrollments' list"),
        ({"enrollments": [1], "pagination": {}}, "'enrollments' list"),
        ({"enrollments": []}, "'pagination' object"),
        ({"enrollments": [], "pagination": {"total": "3", "total_pages": 1}}, "total"),
        ({"enrollments": [], "pagination": {"total": 3, "total_pages": -1}}, "total"),
    ],
)
def test_malformed_list_bodies_are_named(payload: object, problem: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=problem):
        Page.from_payload(1, payload)


@pytest.mark.parametrize(
    ("created_at", "key"),
    [
        ("2025-02-17T02:00:34Z", "2025-02-17T02:00:34.000000"),
        ("2025-02-17T02:00:34.5Z", "2025-02-17T02:00:34.500000"),
        ("2025-02-17T03:00:34+01:00", "2025-02-17T02:00:34.000000"),
    ],
)
def test_creation_keys_compare_as_the_moments_they_name(
    created_at: str,
    key: str,
) -> None:
    assert creation_key({"id": 1, "created_at": created_at}) == key


@pytest.mark.parametrize("created_at", [None, "", "yesterday", 17])
def test_a_record_without_a_usable_created_at_is_an_error(created_at: object) -> None:
    with pytest.raises(PaginationError, match="created_at"):
        creation_key({"id": 7, "created_at": created_at})
