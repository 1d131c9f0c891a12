"""Records that share a creation time (a *tie group*), read whole.

The API orders by ``created_at`` alone and pages with OFFSET, so the records of
one creation time may come in a different order on every request. Two answers
cut from two orderings of one group do not add up to the group: when a group
straddles a page boundary, page k and page k+1 may serve one record twice and
another never. What one answer says of a group is exact, though: the records
between a newer record and an older one (or the list's start and end) are the
whole group at the moment the API answered, so every record present for the
whole walk is among them.

:class:`GroupTrace` follows the group at the walk's cursor from page to page and
tells, when the walk moves past it, whether it was served whole: the page where
the group first showed also showed its end, or the group ended where that page
ended (the next page joined on without overlap, so nothing moved between the
two), or the next page, read after it, served all the rest (see
:meth:`GroupTrace.after`). When not, :class:`GroupRead` reads it whole:

* a *framing read*: one request with a page size and number chosen so that the
  answer holds the group's places plus one beyond each edge. An answer whose
  first record is newer than the group (or is the list's first) and whose last
  is older (or is the list's last) holds the whole group; anything else means
  the group moved meanwhile: it is placed again from that answer and read again,
  a bounded number of times;
* *rounds* (:mod:`tap_reviewrover.tie_rounds`) for a group larger than a page.

A page that splits a group may also overlap places read before without showing
it (they may be served as records of the group not taken yet): the walk then
re-anchors, unless the group's read shows it where the page before saw it start
(:meth:`GroupTrace.still_mark`). Nothing here does I/O.
"""

from __future__ import annotations

import enum
import typing as t

from tap_reviewrover.page_answers import Page, PageKey, PaginationError
from tap_reviewrover.page_windows import framing_request, rounds_page_size
from tap_reviewrover.tie_rounds import GroupRounds

#: Answers that showed a group split by one page boundary: those two pages.
READS_OF_A_GROUP_SPLIT_ONCE = 2
#: Answers a group is placed from, at most, before the walk stops (the list
#: moved each time under the window of the answer meant to hold it whole).
MAX_PLACINGS = 4


def run_of(created: t.Sequence[t.Any], key: object) -> tuple[int, int] | None:
    """The first and last index of the records created at ``key`` on a page.

    Args:
        created: Creation keys, newest first.
        key: The creation key of the group.

    Returns:
        ``(first, last)``, or None when the page holds none of them.
    """
    try:
        first = created.index(key)
    except ValueError:
        return None
    return first, first + created.count(key) - 1  # ties are next to each other


class Seen(enum.Enum):
    """What the walk knows of a group once it took a page after it."""

    OPEN = "the group may go on past this page"
    WHOLE = "one answer held the whole group"
    SPLIT = "the group spans answers: it must be read whole"


class GroupTrace:
    """The answers that showed the records at the cursor's creation key.

    Attributes:
        key: The creation key.
        start: The place of its first record, in the answer that showed it.
        start_total: That answer's total.
        start_seen: Whether that answer showed where the group starts (its
            first record after a newer one, or the list's first).
        end: The place of its last record, once an answer showed it.
        end_total: That answer's total.
        reads: Answers that held records of the group.
    """

    def __init__(self, key: object, page: Page[t.Any]) -> None:
        """Begin with the page on which the cursor reached the key.

        Args:
            key: The creation key of the page's last record.
            page: The page.
        """
        run = run_of(page.created, key)
        first = run[0] if run else 0
        self.key = key
        self.start = page.first_position + first
        self.start_total = page.total
        # Whether that answer itself showed the record before it (or the front).
        self.start_seen = first > 0 or self.start == 0
        self.end = self.start
        self.end_total = page.total
        self.reads = 1
        self._shown_last = True

    def _split_whole(
        self, page: Page[t.Any], here: int, again: int, since: object
    ) -> bool:
        """Whether two pages read in order served the whole group between them.

        The page before showed where the group starts; ``page``, asked for
        after it was taken, shows where it ends, with ``here`` records of it,
        ``again`` of them taken before. Of the group's records past the page
        before in its answer, ``page`` served all but at most ``again`` minus
        the total's growth: its places there grew by the records created less
        those deleted before or in it, which is the growth plus the deletions
        after it, plus the records created in the group (none, if it is older
        than the sync; all of ``here`` taken before, and it ended on the page
        before whatever was created). So none was skipped when the total grew
        by ``again`` or more: a group in a stable order costs nothing, a record
        pushed down by one created costs nothing; one served twice does.
        """
        return (
            self._shown_last
            and self.reads == READS_OF_A_GROUP_SPLIT_ONCE
            and self.start_seen
            and page.total - self.start_total >= again
            and (
                again == here or (since is not None and self.key < since)  # type: ignore[operator]
            )
        )

    def still_mark(
        self, page: Page[t.Any], created_since_start: object
    ) -> tuple[int, int] | None:
        """What a read of the group must show for ``page`` to have moved nothing.

        The group first showed on the page before ``page`` (which splits it),
        starting after a newer record, at :attr:`start`. If an answer read
        after ``page`` shows it starting there again, with the same total as
        both pages, nothing was created before it nor deleted from or after it
        between the two pages (the group and the records after it can only
        lose records, and their count stood; so did the count before it), so
        ``page`` overlaps no place read before, whatever it holds.

        Args:
            page: The page that split the group, just taken.
            created_since_start: Creation key from which a record counts as
                created during the walk, if known (a group older than that
                gains no record).

        Returns:
            ``(start, total)``, or None when this cannot be told.
        """
        if (
            self.reads != READS_OF_A_GROUP_SPLIT_ONCE
            or not self.start_seen
            or self.start_total != page.total
            or created_since_start is None
            or not self.key < created_since_start  # type: ignore[operator]
        ):
            return None
        return self.start, page.total

    def after(
        self, page: Page[t.Any], *, in_order: bool, again: int, since: object
    ) -> Seen:
        """Take in the next page the walk took (in page order, checked).

        Args:
            page: The page.
            in_order: Whether it was asked for after the page before it was
                taken (then its answer is the later one).
            again: How many of its records of the group were taken before.
            since: Creation key from which a record counts as created during
                the walk, if known.

        Returns:
            Whether the group goes on, was held whole by one answer, or must be
            read whole; :attr:`end` is set unless it goes on.
        """
        key, created = self.key, page.created
        run = run_of(created, key)
        if run is not None:
            self.reads += 1
        if not page.reaches_the_end and not (created and created[-1] < key):
            self._shown_last = run is not None
            return Seen.OPEN
        first_place, self.end_total = page.first_position, page.total
        if run is not None:
            first, last = run
            self.end = first_place + last
            # Its first record after a newer one (or the list's first) and its
            # last before an older one (or the list's last): all in one answer.
            whole = first > 0 or first_place == 0
            whole = whole or (
                in_order and self._split_whole(page, last + 1, again, since)
            )
            return Seen.WHOLE if whole else Seen.SPLIT
        if created and created[0] > key:
            return Seen.WHOLE  # a newer record, then an older one: none is left
        # The page starts past the group: the group ended where the page before
        # it ended (it joined on without overlap). One answer held all of it if
        # only one answer showed it, or if the one before showed none of it.
        self.end = first_place - 1
        return Seen.WHOLE if self.reads == 1 or not self._shown_last else Seen.SPLIT


class GroupRead:
    """Reads one tie group whole (see the module doc).

    Attributes:
        key: The group's creation key.
        taken: Ids of its records the walk took (shared with the walk).
        request: The request to make next.
        reads: Answers taken so far.
        expected: The place and total it is to be seen at (see :meth:`expect`).
        confirmed: Whether the answer that held it whole showed them.
    """

    def __init__(
        self,
        trace: GroupTrace,
        taken: set[object],
        *,
        usual: int,
        most: int,
        created_since_start: object = None,
    ) -> None:
        """Place the group from what the walk saw of it; plan the first read.

        Args:
            trace: The walk's trace of the group, ended (:attr:`GroupTrace.end`).
            taken: Ids of its records taken so far; the walk adds the new ones.
            usual: The walk's page size, the one to prefer.
            most: The largest page size to ask for.
            created_since_start: Creation key from which a record counts as
                created during the walk, if known.
        """
        self.key = trace.key
        self.taken = taken
        self.reads = 0
        self.expected: tuple[int, int] | None = None
        self.confirmed = False
        self._most = most
        self._usual = usual
        self._created_since_start = created_since_start
        # Records created meanwhile are all newer: they moved the whole group.
        start = trace.start + trace.end_total - trace.start_total
        self._size = max(1, trace.end - start + 1, len(taken))
        self._placings = 0
        self._basis_total = trace.end_total
        self.request: PageKey = (1, most)
        self._rounds: GroupRounds | None = None
        self._place(start, trace.end, trace.end_total)

    def expect(self, mark: tuple[int, int] | None) -> bool:
        """Expect the group to be seen starting at a place, with a total.

        Args:
            mark: The place of its first record and the total, or None.

        Returns:
            Whether there is a mark: :attr:`confirmed` will tell, once the group
            was read whole in one answer, whether that answer showed it.
        """
        self.expected = mark
        return mark is not None

    def limit_to(self, most: int) -> None:
        """Ask for no larger pages than ``most`` from now on (and plan again).

        Args:
            most: The largest page size to ask for.
        """
        self._most = self._usual = most
        self._place(*self._placed)

    def take(self, page: Page[t.Any]) -> tuple[list[int], bool]:
        """Take in the answer to :attr:`request` (checked on its own).

        Args:
            page: The answer.

        Returns:
            The indexes of the group's records on it, and whether the group was
            read whole (then there is no next request).

        Raises:
            PaginationError: If the group cannot be read whole.
        """
        self.reads += 1
        run = run_of(page.created, self.key)
        members = list(range(run[0], run[1] + 1)) if run else []
        rounds = self._rounds
        if rounds is None and self._frames(page):
            start = page.first_position + (run[0] if run else len(page.records))
            self.confirmed = self.expected == (start, page.total)
            return members, True
        whole = None if rounds is None else rounds.take(page, run)
        if whole is None:
            self._place_again(page, run)  # the group moved
            return members, False
        self.request = t.cast("GroupRounds", rounds).request
        return members, whole

    def _frames(self, page: Page[t.Any]) -> bool:
        created, key = page.created, self.key
        after_a_newer = page.first_position == 0 or bool(created and created[0] > key)
        before_an_older = page.reaches_the_end or bool(created and created[-1] < key)
        return after_a_newer and before_an_older

    def _place_again(self, page: Page[t.Any], run: tuple[int, int] | None) -> None:
        """Place the group again from an answer that did not hold it whole."""
        first_place, count, size = page.first_position, len(page.records), self._size
        if run is not None:
            first, last = run
            starts = first > 0 or first_place == 0
            ends = last < count - 1 or page.reaches_the_end
            if starts and ends:
                start, end = first_place + first, first_place + last
            elif starts:
                start = first_place + first
                end = start + max(size, last - first + 1) - 1
            elif ends:
                end = first_place + last
                start = min(first_place, end - size + 1)
            else:  # it fills the answer and goes on past both of its edges
                start, end = first_place - 1, first_place + count
        elif not page.records or page.created[0] < self.key:
            end = first_place - 1  # the group is before the answer
            start = end - size + 1
        else:
            start = first_place + count  # the group is after the answer
            end = start + size - 1
        self._size = max(size, end - start + 1)
        self._place(start, end, page.total)

    def _place(self, start: int, end: int, total: int) -> None:
        """Plan the next read of the group, thought to be at ``start``..``end``.

        The window reaches one record past each edge; once the group moved, a
        little more on each side, and more after it by as many records as the
        list grew since the last answer (new records push the group down).
        """
        self._placings += 1
        if self._placings > MAX_PLACINGS:
            msg = (
                f"the {self._size} records created at {self.key} moved each time "
                f"they were read again to be seen in one answer ({self.reads} "
                "reads): the list kept changing; run the sync again"
            )
            raise PaginationError(msg)
        self._placed = (start, end, total)
        margin, grew = self._placings - 1, max(0, total - self._basis_total)
        self._basis_total = total
        low = high = 0
        for before, after in ((margin, margin + grew), (0, grew), (0, 0)):
            low = max(0, min(start - 1 - before, total - 1))
            high = max(low, min(end + 1 + after, total - 1))
            request = framing_request(low, high, self._most, self._usual)
            if request is not None:
                self._rounds = None
                self.request = request
                return
        # Larger than a page: rounds of pages of the largest size.
        if (
            self._created_since_start is not None
            and self.key >= self._created_since_start  # type: ignore[operator]
        ):
            msg = (
                f"{self._size} records share the creation time {self.key}, more "
                "than one page holds, and were created as the sync ran: they "
                "cannot be read whole; run the sync again"
            )
            raise PaginationError(msg)
        limit = rounds_page_size(low, high, self._most)
        if limit is None:
            msg = (
                f"the {self._size} records created at {self.key} cannot be read "
                f"whole with pages of at most {self._most}: their edges fall on "
                "page boundaries whatever the page size"
            )
            raise PaginationError(msg)
        pages = range(low // limit + 1, high // limit + 2)
        self._rounds = GroupRounds(self.key, [(n, limit) for n in pages])
        self.request = self._rounds.request
