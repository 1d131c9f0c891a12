"""The page walk: which page to read next, and which records on it are new.

It also decides whether the API's answer can be trusted at all.

The API pages with ``page``/``limit`` over a list ordered newest-created first, and
the list can change while a sync walks it:

* an enrollment created during the sync lands on page 1 and pushes every record
  one place down, so the first record of the next page was already read;
* a deletion pulls every later record one place up, so the first record of the
  next page slides onto the page just read and a plain walk skips it.

:class:`PageWalk` keeps a *cursor*: the oldest creation time emitted so far (plus
the ids emitted at exactly that time, as the API may order ties any way it likes).
A record newer than the cursor was emitted already; an older one is new. Because
new enrollments only ever appear at the front, the place of the record after the
cursor can only move up (towards pages already read) when ``pagination.total``
falls between two responses. In that case the walk reads the previous page again,
and keeps stepping back until a page overlaps what was already emitted, so that
no record present for the whole sync is skipped.

Pages may also be fetched ahead, several at a time, and then read by the API in
any order; the walk still takes them in page order. Reading out of order breaks
the rule above (a page read *before* the page above it sees the list before any
insert, so an insert plus a deletion can hide a record between the two), so the
walk keeps an *anchor*: a page after whose answer every later page was requested.
As long as every answer since the anchor reports the anchor's ``total`` and no
page overlaps the one before, nothing moved between any two of those reads: each
record that moved would have left an overlap or changed a total on the way (for a
boundary, the count of deletions after it since the anchor starts at 0 and could
only have fallen between reads, yet it never falls). On the first sign of change
the walk re-anchors on the page just taken and bumps :attr:`PageWalk.epoch`:
pages fetched ahead in an older epoch must be fetched again.

None of that holds if the API's answers do not add up, so every answer is checked
before the walk takes it (:meth:`PageWalk.inconsistency`): one response is a
snapshot of the list at one moment, so its page must hold exactly what its own
``total`` and ``limit`` say, its ``total_pages`` must follow from them, its
records must be newest first, and a record newer than the page before it must be
one already read or one created since the sync started. A page that fails a check
is read again a bounded number of times (a passing inconsistency heals), the walk
adapts to a server that serves smaller pages than asked for (saying so, or not),
starts again from page 1 once when a page keeps disagreeing with the pages before
it (an earlier answer may have been the wrong one: its records are then taken
again, which targets that upsert absorb), and otherwise stops with the check that
failed. As every page of a walk that saw
no change holds exactly what its total says, such a walk reads exactly ``total``
records. Nothing here does I/O.
"""

from __future__ import annotations

import collections
import typing as t
from dataclasses import dataclass

#: Re-reads allowed per page of the list before the walk gives up (the list is
#: then changing faster than it can be read).
REREADS_PER_PAGE = 2
#: Re-reads allowed on top of that, for small lists.
EXTRA_REREADS = 10
#: Reads of one page that fails a check before the walk stops.
MAX_READS_OF_A_BAD_PAGE = 3
#: Walks from page 1 again, when a page keeps disagreeing with the pages before
#: it (one of those may have been the wrong one), before the walk stops.
MAX_WALK_RESTARTS = 1
#: Pages of new records whose ids the walk remembers, to tell a record pushed
#: down by records created since (read already) from one the API never served.
REMEMBERED_PAGES = 8

R = t.TypeVar("R")


class PaginationError(RuntimeError):
    """The API's pagination cannot be walked safely."""


@dataclass(frozen=True)
class Page(t.Generic[R]):
    """One list response, reduced to what the walk needs.

    Attributes:
        number: The page that was asked for.
        limit: The page size that was asked for.
        records: The records on it, in API order.
        created: Each record's creation key (comparable), in the same order.
        ids: Each record's id, in the same order.
        total: ``pagination.total`` at the moment the API answered.
        total_pages: ``pagination.total_pages`` at that moment.
        reported_number: ``pagination.page``, if the API sent it.
        reported_limit: ``pagination.limit``, if the API sent it.
    """

    number: int
    limit: int
    records: t.Sequence[R]
    created: t.Sequence[t.Any]
    ids: t.Sequence[object]
    total: int
    total_pages: int
    reported_number: int | None = None
    reported_limit: int | None = None


def pages_for(total: int, limit: int) -> int:
    """How many pages ``total`` records make at ``limit`` a page.

    Args:
        total: Records in the list.
        limit: Records per page.

    Returns:
        ``ceil(total / limit)``.
    """
    return -(-total // limit)


def expected_count(total: int, limit: int, number: int) -> int:
    """How many records page ``number`` holds when the list has ``total``.

    Args:
        total: Records in the list.
        limit: Records per page.
        number: The page, from 1.

    Returns:
        ``limit`` on every page but the last, the rest on the last, 0 after it.
    """
    return max(0, min(limit, total - (number - 1) * limit))


class PageWalk(t.Generic[R]):
    """Walks the list page by page, checking and recovering (see the module doc).

    Use it as::

        walk = PageWalk(limit=100)
        while walk.next_page is not None:
            page = fetch(walk.next_page, walk.limit)
            emit(walk.accept(page))

    Pages in :meth:`pages_ahead` may be fetched before their turn, as long as
    they are fetched again once :attr:`epoch` has changed since the request.

    Attributes:
        limit: The page size to ask for; smaller than first asked for once the API
            has shown that it serves smaller pages (see :attr:`adapted`).
        next_page: The page to read next; None once the walk is complete.
        epoch: Bumped whenever pages requested earlier must be requested again.
        created_since_start: Creation key from which a record counts as created
            during the walk (set it once the API's clock is known): such a record
            may show up ahead of the cursor without having been read.
        adapted: How the page size was adapted, for the log: ``("declared", n)``
            or ``("silent", n)``; None while the API serves what is asked.
        requests: Pages taken so far.
        drift_rereads: Pages read again because the list changed meanwhile.
        inconsistent_rereads: Pages read again because an answer did not add up.
        restarts: Walks started again from page 1 (records taken before are
            taken again), and :attr:`restart_reason` the last one's reason.
    """

    def __init__(self, limit: int) -> None:
        """Start at page 1 with nothing emitted.

        Args:
            limit: The page size to ask for.
        """
        self.limit = limit
        self.next_page: int | None = 1
        self.epoch = 0
        self.created_since_start: t.Any = None
        self.adapted: tuple[str, int] | None = None
        self.requests = 0
        self.drift_rereads = 0
        self.inconsistent_rereads = 0
        self.restarts = 0
        self.restart_reason = ""
        self._bad_reads: collections.Counter[int] = collections.Counter()
        self._short_first_page: int | None = None
        self._start_over()

    def _start_over(self) -> None:
        self._max_total = 0
        self._last_page: int | None = None
        self._anchor_total = 0
        self._previous_total: int | None = None
        # Coverage so far: every record at least as new as the cursor was emitted.
        self._cursor: t.Any = None
        self._ids_at_cursor: set[object] = set()
        self._cursor_page = 0
        self._recent_ids: collections.deque[frozenset[object]] = collections.deque(
            maxlen=REMEMBERED_PAGES,
        )

    def pages_ahead(self, count: int) -> range:
        """The pages worth requesting now, :attr:`next_page` first.

        Args:
            count: The most pages to name.

        Returns:
            :attr:`next_page` and the pages after it, up to the last page the
            latest answer knew of (only :attr:`next_page` before page 1 is read).
        """
        if self.next_page is None:
            return range(0)
        last = self._last_page if self._last_page is not None else self.next_page
        return range(
            self.next_page,
            max(self.next_page, min(last, self.next_page + count - 1)) + 1,
        )

    def accept(self, page: Page[R]) -> list[R]:
        """Take in the response for :attr:`next_page`; return its new records.

        Args:
            page: The response for the page that :attr:`next_page` named, asked
                for with :attr:`limit` records a page.

        Returns:
            The records on the page not emitted before, in API order. Empty when
            the page has none or must be read again.

        Raises:
            PaginationError: If an answer keeps failing a check, or the list
                changes so fast that the walk cannot finish.
        """
        if page.number != self.next_page or page.limit != self.limit:
            msg = (
                f"expected page {self.next_page} of {self.limit}, got page "
                f"{page.number} of {page.limit}"
            )
            raise PaginationError(msg)
        self.requests += 1
        self._check_budget(page.total)
        if self._adapt_page_size(page):
            return []
        problem = self.inconsistency(page)
        if problem is not None:
            return self._read_again(page, problem)
        self._bad_reads.pop(page.number, None)

        if not self._continues_coverage(page):
            # Records slid up across the page boundary: read the page before first.
            self.drift_rereads += 1
            self.next_page = page.number - 1
            self.epoch += 1
            return []

        new_records = self._take_new(page)
        overlapped = len(new_records) < len(page.records)
        if page.number == 1 or overlapped or page.total != self._anchor_total:
            # The list moved (or this is the front): later pages must be read
            # after this one for the rule in _continues_coverage to hold.
            self._anchor_total = page.total
            self.epoch += 1
        self._cursor_page = page.number
        self._previous_total = page.total
        self._last_page = page.total_pages
        self.next_page = page.number + 1 if page.number < page.total_pages else None
        return new_records

    def inconsistency(self, page: Page[R]) -> str | None:
        """What, if anything, makes this answer impossible to trust as it is.

        Args:
            page: The response for :attr:`next_page`.

        Returns:
            The failed check, in words; None when the page can be taken.
        """
        number, limit, count = page.number, self.limit, len(page.records)
        if page.reported_number is not None and page.reported_number != number:
            return (
                f"asked for page {number} but the API answered with page "
                f"{page.reported_number}"
            )
        if page.reported_limit is not None and page.reported_limit != limit:
            return (
                f"page {number} says it holds pages of {page.reported_limit} "
                f"while {limit} were asked for"
            )
        expected = expected_count(page.total, limit, number)
        if count != expected:
            return (
                f"page {number} holds {count} records, but its own pagination "
                f"(total {page.total}, {limit} a page) says it holds {expected}"
            )
        pages = pages_for(page.total, limit)
        if page.total_pages != pages and not (page.total == 0 and page.total_pages):
            return (
                f"page {number} says there are {page.total_pages} pages, but "
                f"{page.total} records at {limit} a page make {pages}"
            )
        return self._order_problem(page) or self._across_pages_problem(page)

    def _adapt_page_size(self, page: Page[R]) -> bool:
        """Adapt :attr:`limit` when page 1 shows the API serves smaller pages.

        Only page 1, while nothing was taken: every page number then means the
        same. An API that caps the page size and says so in ``pagination.limit``
        is walked with that size from page 2 on. One that serves fewer records
        than asked for without saying so (the same short page 1 twice) is walked
        again from page 1 with the size it served: whether it cuts or shifts its
        later pages is unknown, but it serves that size as asked.

        Args:
            page: The response for :attr:`next_page`.

        Returns:
            True when the walk starts over (the page is not taken).
        """
        if page.number != 1 or self._cursor is not None:
            return False
        declared = page.reported_limit
        if declared is not None and 0 < declared < page.limit:
            self.limit = declared
            self.adapted = ("declared", declared)
            return False
        count = len(page.records)
        if declared not in (None, page.limit) or not (
            0 < count < expected_count(page.total, page.limit, 1)
        ):
            return False
        if self._short_first_page != count:
            self._short_first_page = count  # once may be a passing glitch
            return False
        self.limit = count
        self.adapted = ("silent", count)
        self._bad_reads.clear()
        self._start_over()
        self.epoch += 1
        return True

    def _order_problem(self, page: Page[R]) -> str | None:
        created, ids = page.created, page.ids
        for position in range(1, len(created)):
            if created[position] > created[position - 1]:
                return (
                    f"page {page.number} lists record {ids[position]!r} (created "
                    f"{created[position]}) after a newer one; the API must list "
                    "newest-created first for a safe sync"
                )
        return None

    def _across_pages_problem(self, page: Page[R]) -> str | None:
        created, ids = page.created, page.ids
        cursor = self._cursor
        if cursor is None or page.number == 1:
            return None
        read_before = 0
        for record_id, key in zip(ids, created, strict=True):
            if key < cursor or (key == cursor and record_id not in self._ids_at_cursor):
                break
            read_before += 1
            if self._was_read(record_id) or (
                self.created_since_start is not None and key >= self.created_since_start
            ):
                continue  # pushed down by new records, or created during the sync
            return (
                f"page {page.number} lists record {record_id!r} (created {key}), "
                f"newer than where page {page.number - 1} ended, yet it was never "
                "served before: pages are served out of order"
            )
        # A page of records all read before, with the total unchanged: either
        # the API served an earlier page again, or as many records were created
        # as deleted further down between two reads, a page's worth of each.
        # Moving on would skip the real page in the first case: read it again.
        if (
            ids
            and read_before == len(ids)
            and page.total == self._previous_total
            and page.number == self._cursor_page + 1
        ):
            return (
                f"page {page.number} repeats records already read, with the same "
                "total: the API is not honouring the 'page' parameter"
            )
        return None

    def _was_read(self, record_id: object) -> bool:
        return any(record_id in ids for ids in self._recent_ids)

    def _read_again(self, page: Page[R], problem: str) -> list[R]:
        self._bad_reads[page.number] += 1
        reads = self._bad_reads[page.number]
        self.inconsistent_rereads += 1
        self.epoch += 1  # pages fetched ahead are fetched again after it
        if reads < MAX_READS_OF_A_BAD_PAGE:
            return []
        if self.restarts < MAX_WALK_RESTARTS and self._across_pages_problem(page):
            # The page disagrees with what came before: the wrong one may have
            # been an earlier page, taken in good faith. Read it all again.
            self.restarts += 1
            self.restart_reason = problem
            self._bad_reads.clear()
            self._start_over()
            self.next_page = 1
            return []
        msg = f"{problem} (read {reads} times)"
        raise PaginationError(msg)

    def _check_budget(self, total: int) -> None:
        self._max_total = max(self._max_total, total)
        pages = max(1, pages_for(self._max_total, self.limit))
        budget = pages * (1 + REREADS_PER_PAGE) + EXTRA_REREADS
        if self.requests > budget:
            msg = (
                f"gave up after {self.requests} requests for a list of {pages} "
                "pages: it kept changing while it was read; run the sync again"
            )
            raise PaginationError(msg)

    def _continues_coverage(self, page: Page[R]) -> bool:
        """Whether the page, read now, joins on to what was emitted so far."""
        if self._cursor is None or page.number == 1:
            return True
        if self._overlaps(page):
            return True
        # No overlap: the record after the cursor is on this page only if it
        # cannot have moved up since the cursor's page was read. New records
        # only appear at the front, so it moves up only when the total falls
        # below the anchor's (every answer between the anchor and the cursor's
        # page reported the anchor's total and joined without overlap).
        return page.number == self._cursor_page + 1 and page.total >= self._anchor_total

    def _overlaps(self, page: Page[R]) -> bool:
        cursor = self._cursor
        return any(
            key > cursor or (key == cursor and record_id in self._ids_at_cursor)
            for record_id, key in zip(page.ids, page.created, strict=True)
        )

    def _take_new(self, page: Page[R]) -> list[R]:
        cursor, at_cursor = self._cursor, self._ids_at_cursor
        new_records: list[R] = []
        for record, record_id, key in zip(
            page.records, page.ids, page.created, strict=True
        ):
            if cursor is None or key < cursor:
                cursor, at_cursor = key, {record_id}
            elif key == cursor and record_id not in at_cursor:
                at_cursor.add(record_id)
            else:
                continue  # emitted already: pushed down by records created since
            new_records.append(record)
        self._cursor, self._ids_at_cursor = cursor, at_cursor
        if new_records:
            self._recent_ids.append(frozenset(page.ids[-len(new_records) :]))
        return new_records
