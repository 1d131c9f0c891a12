"""The page walk: which page to read next, and which records on it are new.

It also decides whether the API's answer can be trusted at all; it does no I/O.
The API pages with ``page``/``limit`` over a list ordered newest-created first
(by ``created_at`` alone), and the list can change while a sync walks it: a
record created lands on page 1 and pushes every record one place down; a
deletion pulls every later record one place up, so a plain walk skips the one
that slides onto the page just read; and records created in one second (ties)
may come in another order on every request, so two pages that split them can
serve one twice and another never.

Why the walk is exact. It keeps a *cursor* (:mod:`tap_reviewrover.cursor`): the
oldest creation time taken so far, and the ids taken at it. Every record newer
than the cursor was taken, and every record at it was taken or is in the tie
group read whole before the walk moves past it. New records only ever appear at
the front, so the place of the record after the cursor moves up (towards pages
already read) only when ``pagination.total`` falls between two responses: then
the walk reads the previous page again, stepping back until a page overlaps
what was taken. A tie group that no answer held whole (nor two, read in order,
provably served whole) is read again in one answer that holds it between a newer
and an older record (in rounds, for more than a page): an answer is a snapshot,
so those are the whole group, each record present for the whole walk among them
(:mod:`tap_reviewrover.tie_groups`).

Pages may be fetched ahead and answered in any order; the walk takes them in page
order and keeps an *anchor*: a page after whose answer every later page was
requested. While every answer since reports its total and no page overlaps the
one before, nothing moved between any two of them: a deletion after a boundary
between two reads out of order shows as an overlap on the first page read after
it. A place read before may be served as a record of the cursor's tie group not
yet taken: a page holding records at the cursor's time counts as overlapping,
unless the group's read shows nothing moved. On the first sign of change the walk
re-anchors and bumps :attr:`PageWalk.epoch`: pages fetched before are fetched again.

None of that holds if the answers do not add up, so each is checked first
(:mod:`tap_reviewrover.page_answers`; here, a record newer than the page before
it must be one already read or one created since the sync started). A page that
fails a check is read again a bounded number of times, the walk adapts to a
server that serves smaller pages than asked for, starts again from page 1 once
when a page keeps disagreeing with the pages before it, and otherwise stops with
the check that failed. A pass in which every answer reported one total, and page
1 read at its end shows nothing created meanwhile, read the list as it stood: it
read at least ``total`` distinct records, or one was skipped (an id came twice in
its place): the walk starts again once, then stops. A record is emitted once per
walk unless a copy comes again newer: the newest version wins
(:mod:`tap_reviewrover.emission`).
"""

from __future__ import annotations

import collections
import typing as t

from tap_reviewrover.cursor import Cursor
from tap_reviewrover.emission import Emission
from tap_reviewrover.page_answers import (
    MAX_PAGE_SIZE,
    Page,
    PageKey,
    PaginationError,
    answer_problem,
    expected_count,
    pages_for,
)
from tap_reviewrover.tie_groups import GroupRead, GroupTrace, Seen

__all__ = [
    "Page",
    "PageKey",
    "PageWalk",
    "PaginationError",
    "expected_count",
    "pages_for",
]

#: Re-reads allowed per page of the list before the walk gives up (the list is
#: then changing faster than it can be read).
REREADS_PER_PAGE = 2
#: Re-reads allowed on top of that, for small lists.
EXTRA_REREADS = 10
#: Reads of one page that fails a check before the walk stops.
MAX_READS_OF_A_BAD_PAGE = 3
#: Walks from page 1 again (a page keeps disagreeing with the pages before it, or
#: a pass over an unchanging list read too few records) before the walk stops.
MAX_WALK_RESTARTS = 1

R = t.TypeVar("R")


class PageWalk(t.Generic[R]):
    """Walks the list page by page, checking and recovering (see the module doc).

    Use it as::

        walk = PageWalk(limit=100)
        while (request := walk.next_request) is not None:
            emit(walk.accept(fetch(*request)))

    The requests in :meth:`pages_ahead` may be fetched before their turn, as
    long as they are fetched again once :attr:`epoch` has changed since.

    Attributes:
        limit: The page size of the list's pages; smaller than first asked for
            once the API has shown that it serves smaller pages (see
            :attr:`adapted`).
        next_page: The page of the list to read next; None once every page is
            read (a read of a tie group may still be due: see
            :attr:`next_request`).
        epoch: Bumped whenever pages requested earlier must be requested again.
        created_since_start: Creation key from which a record counts as created
            during the walk (set it once the API's clock is known): such a record
            may show up ahead of the cursor without having been read.
        adapted: How the page size was adapted, for the log: ``("declared", n)``
            or ``("silent", n)``; None while the API serves what is asked.
        requests: Answers taken so far (tie reads included).
        tie_reads: Answers taken to read records of one creation time whole.
        drift_rereads: Pages read again because the list changed meanwhile.
        inconsistent_rereads: Pages read again because an answer did not add up.
        restarts: Walks started again from page 1, and :attr:`restart_reason`
            the last one's reason.
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
        self.tie_reads = 0
        self.drift_rereads = 0
        self.inconsistent_rereads = 0
        self.restarts = 0
        self.restart_reason = ""
        self._bad_reads: collections.Counter[PageKey] = collections.Counter()
        self._short_first_page: int | None = None
        self._named = (-1, 0)  # an epoch, and the last page pages_ahead named in it
        self._asked_before = 0  # the last page named before the last one was taken
        self._emission = Emission()
        self._start_over()

    def _start_over(self) -> None:
        self._max_total = 0
        self._last_page: int | None = None
        self._cursor = Cursor()
        self._trace: GroupTrace | None = None
        self._group_read: GroupRead | None = None
        self._recount: str | None = None  # a short count, until page 1 explains it
        self._emission.new_pass()

    @property
    def copies_dropped(self) -> int:
        """Records not emitted because a copy at least as new was."""
        return self._emission.copies_dropped

    @property
    def newer_copies(self) -> int:
        """Records emitted again: newer than the copy emitted before."""
        return self._emission.newer_copies

    @property
    def next_request(self) -> PageKey | None:
        """The request to make now, ``(number, limit)``; None once done."""
        if self._group_read is not None:
            return self._group_read.request
        if self._recount is not None:
            return (1, self.limit)  # has the list changed since the pass began?
        return None if self.next_page is None else (self.next_page, self.limit)

    def pages_ahead(self, count: int) -> list[PageKey]:
        """The requests worth making now, :attr:`next_request` first.

        Args:
            count: The most requests to name.

        Returns:
            :attr:`next_request` and the pages after it, up to the last page the
            latest answer knew of (only the next request before page 1 is read,
            and while a tie group is read: those reads go one at a time).
        """
        if self._group_read is not None or self._recount is not None:
            return [t.cast("PageKey", self.next_request)]
        if self.next_page is None:
            return []
        first = self.next_page
        last = self._last_page if self._last_page is not None else first
        last = max(first, min(last, first + count - 1))
        named_in, named = self._named
        self._named = (self.epoch, max(last, named if named_in == self.epoch else 0))
        return [(number, self.limit) for number in range(first, last + 1)]

    def accept(self, page: Page[R]) -> list[R]:
        """Take in the answer to :attr:`next_request`; return the records to emit.

        Args:
            page: The answer to the request :attr:`next_request` named.

        Returns:
            Its records not emitted before (and newer copies of ones that were),
            in API order. Empty when it has none or must be read again.

        Raises:
            PaginationError: If an answer keeps failing a check, or the list
                changes so fast that the walk cannot finish.
        """
        if page.key != self.next_request:
            msg = (
                f"expected an answer to {self.next_request} (page, limit), got "
                f"page {page.number} of {page.limit}"
            )
            raise PaginationError(msg)
        self.requests += 1
        if self._group_read is not None:
            return self._accept_group_answer(page, self._group_read)
        if self._recount is not None:
            return self._recount_after(page, self._recount)
        self._check_budget(page.total)
        if self._adapt_page_size(page):
            return []
        problem = self.inconsistency(page)
        if problem is not None:
            return self._read_again(page, problem)
        self._bad_reads.pop(page.key, None)
        self._emission.note_total(page.total)
        cursor = self._cursor
        if not cursor.joins(page):
            # Records slid up across the page boundary: read the page before first.
            self.drift_rereads += 1
            self.next_page = page.number - 1
            self.epoch += 1
            return []
        key_before, at_key_before = cursor.key, cursor.ids_at_key
        emit, anchor, unsure = cursor.take(page, self._emission)
        if anchor:  # the list moved, or this is the front (see Cursor.joins)
            self.epoch += 1
        self._last_page = page.total_pages
        self.next_page = page.number + 1 if page.number < page.total_pages else None
        self._follow_ties(page, key_before, at_key_before, unsure=unsure)
        named_in, named = self._named  # pages asked for before this one was taken
        self._asked_before = named if named_in == self.epoch else 0
        return emit

    def inconsistency(self, page: Page[R]) -> str | None:
        """The check the answer to :attr:`next_page` fails, in words, or None."""
        return answer_problem(page, self.limit) or self._cursor.problem(
            page, self.created_since_start
        )

    def _adapt_page_size(self, page: Page[R]) -> bool:
        """Adapt :attr:`limit` when page 1 shows the API serves smaller pages.

        Only page 1, while nothing was taken: every page number then means the
        same. A cap declared in ``pagination.limit`` is used from page 2 on. A
        silent one (the same short page 1 twice) starts the walk again from page
        1 with the size it served: whether it cuts or shifts its later pages is
        unknown, but it serves that size as asked.

        Returns:
            True when the walk starts over (the page is not taken).
        """
        if page.number != 1 or self._cursor.key is not None:
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

    def _read_again(self, page: Page[R], problem: str) -> list[R]:
        self._bad_reads[page.key] += 1
        reads = self._bad_reads[page.key]
        self.inconsistent_rereads += 1
        self.epoch += 1  # pages fetched ahead are fetched again after it
        if reads < MAX_READS_OF_A_BAD_PAGE:
            return []
        if (
            self.restarts < MAX_WALK_RESTARTS
            and self._group_read is None
            and self._cursor.problem(page, self.created_since_start)
        ):
            # The page disagrees with what came before: the wrong one may have
            # been an earlier page, taken in good faith. Read it all again.
            self._restart(problem)
            return []
        msg = f"{problem} (read {reads} times)"
        raise PaginationError(msg)

    def _restart(self, reason: str) -> None:
        """Walk again from page 1; what was emitted stays emitted."""
        self.restarts += 1
        self.restart_reason = reason
        self._bad_reads.clear()
        self._start_over()
        self.next_page = 1
        self.epoch += 1

    def _check_budget(self, total: int) -> None:
        self._max_total = max(self._max_total, total)
        pages = max(1, pages_for(self._max_total, self.limit))
        budget = pages * (1 + REREADS_PER_PAGE) + EXTRA_REREADS
        if self.requests - self.tie_reads > budget:
            msg = (
                f"gave up after {self.requests} requests for a list of {pages} "
                "pages: it kept changing while it was read; run the sync again"
            )
            raise PaginationError(msg)

    def _follow_ties(
        self, page: Page[R], key_before: object, taken: set[object], *, unsure: bool
    ) -> None:
        """Follow the tie group at the cursor; read it whole when answers split it.

        A page that may hide an overlap (``unsure``: see :meth:`Cursor.take`)
        re-anchors the walk, unless the group's read shows that nothing moved.
        """
        trace, since, cursor = self._trace, self.created_since_start, self._cursor
        if trace is not None and key_before is not None:
            in_order = page.number > self._asked_before
            again = cursor.taken_again_at_key
            seen = trace.after(page, in_order=in_order, again=again, since=since)
            if seen is Seen.OPEN:
                self.epoch += 1 if unsure else 0
                return
            if seen is Seen.SPLIT:
                most = MAX_PAGE_SIZE if self.adapted is None else self.limit
                group = GroupRead(
                    trace, taken, usual=self.limit, most=most, created_since_start=since
                )
                self._group_read = group
                unsure = unsure and not group.expect(trace.still_mark(page, since))
        if unsure:  # and no read of the group to show that nothing moved
            self.epoch += 1
        key = cursor.key
        ends = page.reaches_the_end or key is None
        self._trace = None if ends else GroupTrace(key, page)
        if self.next_request is None:
            self._finish_pass()

    def _accept_group_answer(self, page: Page[R], group: GroupRead) -> list[R]:
        self.tie_reads += 1
        problem = answer_problem(page)
        if problem is not None and page.limit > self.limit:
            # Maybe the API serves no larger pages than the walk's, silently.
            self.inconsistent_rereads += 1
            group.limit_to(self.limit)
            return []
        if problem is not None:
            return self._read_again(page, problem)
        self._bad_reads.pop(page.key, None)
        self._emission.note_total(page.total)
        members, whole = group.take(page)
        new = [i for i in members if page.ids[i] not in group.taken]
        again = [i for i in members if page.ids[i] in group.taken]
        new_ids = [page.ids[i] for i in new]
        group.taken.update(new_ids)
        emit = self._emission.emit(page, new, again)
        self._cursor.remember(new_ids)
        if whole:
            self._group_read = None
            if group.expected and not group.confirmed:
                self.epoch += 1  # the page that split it may hide an overlap
            if self.next_request is None:
                self._finish_pass()
        return emit

    def _finish_pass(self) -> None:
        """Check the count of a pass that saw the list unchanged (module doc)."""
        self._recount = self._emission.count_problem()

    def _recount_after(self, page: Page[R], problem: str) -> list[R]:
        """Page 1 after a pass that read too few: again (or stop) if unchanged."""
        bad_answer = answer_problem(page, self.limit)
        if bad_answer is not None:
            return self._read_again(page, bad_answer)
        self._recount = None
        if self._emission.shows_a_change(page):
            return []
        if self.restarts < MAX_WALK_RESTARTS:
            self._restart(problem)
            return []
        raise PaginationError(problem)
