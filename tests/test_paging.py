"""The page walk: drift recovery, de-duplication and loop guards (no I/O)."""

from __future__ import annotations

import itertools
import random
import typing as t
from dataclasses import dataclass, field
from operator import itemgetter

import pytest

from tap_reviewrover.paging import (
    MAX_READS_OF_A_BAD_PAGE,
    Page,
    PageKey,
    PageWalk,
    PaginationError,
)

Record = dict[str, t.Any]


#: Versions are microseconds.
SECOND = 1_000_000


def enrollment(record_id: int, created_second: int) -> Record:
    """An enrollment created ``created_second`` seconds into 2025-01-01.

    Its version (``updated``, microseconds as the walk compares them) is its
    creation second until :meth:`ChangingList.update` changes it.
    """
    minutes, seconds = divmod(created_second, 60)
    hours, minutes = divmod(minutes, 60)
    return {
        "id": record_id,
        "created_at": f"2025-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}Z",
        "updated": created_second * 1_000_000,
    }


@dataclass
class ChangingList:
    """An API list that test scenarios change between page reads.

    With ``reshuffle`` set (``random.Random(seed).shuffle``, say), records of one
    creation time come in a new order on every request, as an API that sorts on
    ``created_at`` alone may serve them: it is called on each group, in place.
    """

    records: list[Record]  # newest first, as the API lists them
    limit: int
    next_id: int = 10_000
    next_second: int = 50_000
    reshuffle: t.Callable[[list[Record]], None] | None = None
    reads: list[int] = field(default_factory=list)
    requests: list[tuple[int, int]] = field(default_factory=list)

    def page(self, number: int) -> Page[Record]:
        """Answer a list request for ``number``, as the list stands now."""
        return self.answer(number, self.limit)

    def answer(self, number: int, limit: int) -> Page[Record]:
        """Answer a request for page ``number`` of ``limit``, as it stands now."""
        self.reads.append(number)
        self.requests.append((number, limit))
        start = (number - 1) * limit
        total = len(self.records)
        return make_page(
            number,
            limit,
            [dict(r) for r in self.listed()[start : start + limit]],
            total=total,
            total_pages=-(-total // limit),
            reported_number=number,
            reported_limit=limit,
        )

    def listed(self) -> list[Record]:
        """The records in the order of one answer: ties shuffled if asked to."""
        shuffle = self.reshuffle
        if shuffle is None:
            return self.records
        ordered: list[Record] = []
        for _, group in itertools.groupby(self.records, key=itemgetter("created_at")):
            ties = list(group)
            shuffle(ties)
            ordered += ties
        return ordered

    def create(self, *, tied: bool = False) -> Record:
        """Create an enrollment; it lands at the front.

        ``tied``: in the same second as the last one created (if any).
        """
        self.next_id += 1
        if not tied:
            self.next_second += 1
        record = enrollment(self.next_id, self.next_second)
        self.records.insert(0, record)
        return record

    def delete_at(self, position: int) -> Record:
        """Delete the enrollment at ``position``; later ones move up."""
        return self.records.pop(position)

    def update_at(self, position: int) -> Record:
        """Update the enrollment at ``position``: a newer version, same place."""
        record = self.records[position]
        self.next_second += 1
        record["updated"] = self.next_second * 1_000_000
        return record


def make_page(  # noqa: PLR0913 - one argument per field of the answer
    number: int,
    limit: int,
    records: list[Record],
    *,
    total: int,
    total_pages: int | None = None,
    reported_number: int | None = None,
    reported_limit: int | None = None,
) -> Page[Record]:
    """A list answer made of test records (``id``, ``created_at``, ``updated``)."""
    updated = [record["updated"] for record in records]
    return Page(
        number=number,
        limit=limit,
        records=records,
        created=[record["created_at"] for record in records],
        ids=[record["id"] for record in records],
        total=total,
        total_pages=-(-total // limit) if total_pages is None else total_pages,
        reported_number=reported_number,
        reported_limit=reported_limit,
        updated=updated,
        # The tap's pages carry their versions' whole seconds when every one is
        # whole; odd pages leave them out, so that walks keep both ways.
        updated_seconds=[v // SECOND for v in updated]
        if number % 2 == 0 and all(v % SECOND == 0 for v in updated)
        else None,
    )


def seeded_list(count: int, limit: int, *, ties: bool = False) -> ChangingList:
    # Ties: pairs of records share a creation second, listed in either id order.
    records = [
        enrollment(record_id, record_id // 2 if ties else record_id)
        for record_id in range(count, 0, -1)
    ]
    return ChangingList(records=records, limit=limit)


#: Creation key of the first record created during a walk (see ChangingList).
CREATED_DURING_THE_WALK = enrollment(0, 50_000)["created_at"]


def new_walk(api: ChangingList) -> PageWalk[Record]:
    """A walk of ``api``, which knows when the sync started on the API's clock."""
    walk: PageWalk[Record] = PageWalk(api.limit)
    walk.created_since_start = CREATED_DURING_THE_WALK
    return walk


def walk_all(
    api: ChangingList,
    between_reads: t.Callable[[int], None] = lambda _: None,
    *,
    records: list[Record] | None = None,
    created_since_start: str = CREATED_DURING_THE_WALK,
) -> tuple[list[int], PageWalk[Record]]:
    """Walk the list, calling ``between_reads(read_number)`` before each read.

    Returns the ids emitted; the records themselves go to ``records`` if given.
    """
    walk = new_walk(api)
    walk.created_since_start = created_since_start
    emitted: list[Record] = [] if records is None else records
    while (request := walk.next_request) is not None:
        between_reads(len(api.reads) + 1)
        emitted.extend(walk.accept(api.answer(*request)))
    return [record["id"] for record in emitted], walk


def walk_ahead(
    api: ChangingList,
    between_reads: t.Callable[[int], None],
    *,
    window: int,
    rng: random.Random,
    records: list[Record] | None = None,
) -> tuple[list[int], PageWalk[Record]]:
    """Walk with up to ``window`` pages requested at once, read in any order.

    Each step the API answers one of the pending requests, chosen at random, as
    the list stands at that moment: requests made together reach it in any order.
    Returns the ids emitted; the records themselves go to ``records`` if given.
    """
    walk = new_walk(api)
    emitted: list[Record] = [] if records is None else records
    # Requests made, as (epoch, (page, limit)): pending, or answered not taken.
    pending: list[tuple[int, PageKey]] = []
    answered: dict[tuple[int, PageKey], Page[Record]] = {}
    while (key := walk.next_request) is not None:
        for ahead in walk.pages_ahead(window):
            request = (walk.epoch, ahead)
            if request not in pending and request not in answered:
                pending.append(request)
        turn = (walk.epoch, key)
        if turn not in answered:
            request = pending.pop(rng.randrange(len(pending)))
            between_reads(len(api.reads) + 1)
            answered[request] = api.answer(*request[1])
            continue
        page = answered.pop(turn)
        emitted.extend(walk.accept(page))
        # Requests made before a re-anchor are stale: forget them.
        pending = [request for request in pending if request[0] == walk.epoch]
        answered = {k: v for k, v in answered.items() if k[0] == walk.epoch}
    return [record["id"] for record in emitted], walk


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
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.page(1))]
    assert walk.next_page == 2
    epoch = walk.epoch
    page_three = api.page(3)
    api.create()
    present_throughout.discard(api.delete_at(35)["id"])
    page_two = api.page(2)
    emitted += [r["id"] for r in walk.accept(page_two)]
    # Page 2 starts with page 1's last record: pushed down, or (for all the
    # walk can tell) one of a tie group served again. Reading that group whole
    # shows it moved: page 3, answered before, is stale by the time it is due.
    while (request := walk.next_request) is not None:
        stale = request == (3, 10) and walk.epoch == epoch
        assert not stale, "the overlap on page 2 must make page 3 stale"
        emitted += [r["id"] for r in walk.accept(api.answer(*request))]
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


def exact_or_stopped(
    churn: RandomChurn,
    walk: t.Callable[[], tuple[list[int], PageWalk[Record]]],
) -> None:
    """The walk emits every record present throughout, each once, or stops.

    Stopping is the one other outcome allowed: a list that changes this fast
    (a page's worth of records created and deleted between two reads) can look
    like an API that repeats pages, and the walk does not guess. A walk that
    started again from page 1 emitted the records before its restart again.
    """
    try:
        emitted, finished = walk()
    except PaginationError as error:
        stopped_for = str(error)
        assert "kept changing" in stopped_for or "'page' parameter" in stopped_for
        return
    assert churn.present_throughout <= set(emitted)
    if not finished.restarts:
        assert len(emitted) == len(set(emitted))


@pytest.mark.parametrize("seed", range(300))
def test_random_changes_never_lose_a_record_present_for_the_whole_sync(
    seed: int,
) -> None:
    # Up to a few changes between two reads of pages of 2 to 12 records: far
    # more churn, relative to the page size, than a real account sees.
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    churn = RandomChurn(rng, changes_per_read=[0, 0, 1, 2, 3], delete_share=0.6)
    exact_or_stopped(churn, lambda: walk_all(churn.api, churn.between_reads))


@pytest.mark.parametrize("seed", range(300))
def test_random_changes_with_pages_read_out_of_order_never_lose_a_record(
    seed: int,
) -> None:
    # As above, with up to 6 pages requested at once and read in any order.
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    churn = RandomChurn(rng, changes_per_read=[0, 0, 0, 1, 2], delete_share=0.5)
    window = rng.randint(2, 6)
    exact_or_stopped(
        churn,
        lambda: walk_ahead(churn.api, churn.between_reads, window=window, rng=rng),
    )


def take_all(walk: PageWalk[Record], api: ChangingList) -> list[int]:
    """Walk ``api`` to the end, honouring the walk's page size; return the ids."""
    emitted: list[int] = []
    while (request := walk.next_request) is not None:
        api.limit = walk.limit
        emitted += [r["id"] for r in walk.accept(api.answer(*request))]
    return emitted


def test_a_page_that_answers_for_another_page_is_read_again_then_an_error() -> None:
    walk: PageWalk[Record] = PageWalk(10)
    page = make_page(1, 10, [], total=0, reported_number=2)
    assert walk.accept(page) == []
    assert walk.accept(page) == []
    with pytest.raises(PaginationError, match=r"asked for page 1 .* \(read 3 times\)"):
        walk.accept(page)


def test_a_passing_inconsistency_costs_one_more_read_and_nothing_else() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.page(1))]
    full = api.page(2)
    short = make_page(2, 10, list(full.records[:4]), total=30, reported_number=2)
    epoch = walk.epoch
    assert walk.accept(short) == []
    assert walk.next_page == 2
    assert walk.epoch != epoch, "pages fetched ahead are fetched again"
    emitted += take_all(walk, api)
    assert emitted == [record["id"] for record in api.records]
    assert walk.inconsistent_rereads == 1


def read_until_it_gives_up(walk: PageWalk[Record], answer: Page[Record]) -> None:
    """Give the walk the same bad answer as often as it reads the page again."""
    for _ in range(MAX_READS_OF_A_BAD_PAGE):
        walk.accept(answer)


@pytest.mark.parametrize(
    ("keep", "problem"),
    [(0, "page 2 holds 0 records"), (5, "page 2 holds 5 records")],
)
def test_a_page_shorter_than_its_pagination_says_stops_the_walk(
    keep: int, problem: str
) -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    walk.accept(api.page(1))
    short = make_page(2, 10, list(api.page(2).records[:keep]), total=30)
    with pytest.raises(PaginationError, match=problem):
        read_until_it_gives_up(walk, short)


def test_every_page_empty_with_a_total_is_an_error_not_an_empty_sync() -> None:
    walk: PageWalk[Record] = PageWalk(10)
    empty = make_page(1, 10, [], total=500)
    with pytest.raises(PaginationError, match=r"page 1 holds 0 .* says it holds 10"):
        read_until_it_gives_up(walk, empty)


@pytest.mark.parametrize("total_pages", [0, 1, 10**9])
def test_total_pages_that_disagree_with_the_total_are_an_error(
    total_pages: int,
) -> None:
    api = seeded_list(50, 10)
    walk = new_walk(api)
    lying = make_page(
        1, 10, list(api.page(1).records), total=50, total_pages=total_pages
    )
    with pytest.raises(PaginationError, match=f"says there are {total_pages} pages"):
        read_until_it_gives_up(walk, lying)
    assert walk.requests == MAX_READS_OF_A_BAD_PAGE


def test_a_declared_page_size_cap_is_walked_with_the_size_it_serves() -> None:
    api = seeded_list(45, 5)  # the API serves 5 a page, whatever is asked
    walk: PageWalk[Record] = PageWalk(20)
    walk.created_since_start = CREATED_DURING_THE_WALK
    first = api.page(1)
    declared = make_page(
        1, 20, list(first.records), total=45, total_pages=9, reported_limit=5
    )
    emitted = [r["id"] for r in walk.accept(declared)]
    assert walk.limit == 5
    assert walk.adapted == ("declared", 5)
    emitted += take_all(walk, api)
    assert emitted == [record["id"] for record in api.records]
    assert walk.requests == 9


def test_a_silent_page_size_cap_is_walked_again_with_the_size_it_serves() -> None:
    api = seeded_list(45, 5)
    walk: PageWalk[Record] = PageWalk(20)
    walk.created_since_start = CREATED_DURING_THE_WALK
    first = api.page(1)  # 5 records, while the pagination claims 20 a page
    silent = make_page(1, 20, list(first.records), total=45, reported_limit=20)
    assert walk.accept(silent) == []  # once may be a glitch: read again
    assert walk.accept(silent) == []  # twice: the API serves 5
    assert (walk.limit, walk.next_page, walk.adapted) == (5, 1, ("silent", 5))
    assert take_all(walk, api) == [record["id"] for record in api.records]


def test_pages_served_swapped_are_an_error_not_already_emitted_records() -> None:
    api = seeded_list(40, 10)
    walk = new_walk(api)
    page_one, page_two = api.page(1), api.page(2)
    walk.accept(make_page(1, 10, list(page_two.records), total=40))
    swapped = make_page(2, 10, list(page_one.records), total=40)
    # Either page may be the wrong one: after three reads, once from page 1.
    read_until_it_gives_up(walk, swapped)
    assert (walk.next_page, walk.restarts) == (1, 1)
    walk.accept(make_page(1, 10, list(page_two.records), total=40))
    with pytest.raises(PaginationError, match="pages are served out of order"):
        read_until_it_gives_up(walk, swapped)


def test_records_created_during_the_walk_may_appear_ahead_of_the_cursor() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    emitted = [r["id"] for r in walk.accept(api.page(1))]
    for _ in range(12):  # more than a page: page 2 now starts with new records
        api.create()
    emitted += take_all(walk, api)
    assert emitted == [record["id"] for record in api.records[12:]]
    assert walk.inconsistent_rereads == 0


def test_a_repeated_page_with_the_same_total_is_an_error_not_a_short_sync() -> None:
    api = seeded_list(30, 10)
    walk = new_walk(api)
    first = api.page(1)
    walk.accept(first)
    repeated = make_page(2, 10, list(first.records), total=30, reported_number=2)
    read_until_it_gives_up(walk, repeated)
    assert (walk.next_page, walk.restarts) == (1, 1)
    walk.accept(first)
    with pytest.raises(PaginationError, match="not honouring the 'page' parameter"):
        read_until_it_gives_up(walk, repeated)


def test_records_out_of_creation_order_are_an_error() -> None:
    records = [enrollment(1, 10), enrollment(2, 20)]
    walk: PageWalk[Record] = PageWalk(10)
    with pytest.raises(PaginationError, match="newest-created first"):
        read_until_it_gives_up(walk, make_page(1, 10, records, total=2))


def test_the_request_budget_follows_the_total_not_total_pages() -> None:
    api = seeded_list(20, 10)
    walk = new_walk(api)
    walk.accept(api.page(1))
    # Page 2 keeps claiming a billion pages: read a bounded number of times.
    lying = make_page(2, 10, list(api.page(2).records), total=20, total_pages=10**9)
    with pytest.raises(PaginationError, match="says there are 1000000000 pages"):
        read_until_it_gives_up(walk, lying)
    assert walk.requests == 1 + MAX_READS_OF_A_BAD_PAGE


def test_a_list_that_never_stops_changing_ends_with_an_error_not_a_hang() -> None:
    api = seeded_list(50, 10)

    def delete_before_every_read(read: int) -> None:
        if read > 1 and api.records:
            api.delete_at(0)
            api.create()
            api.delete_at(1)

    with pytest.raises(PaginationError, match="kept changing"):
        walk_all(api, delete_before_every_read)
