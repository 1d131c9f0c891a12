"""Rounds over a tie group larger than one answer holds.

Such a group (see :mod:`tap_reviewrover.tie_groups`) cannot be seen whole in one
answer, so its pages, from the one holding the record before it to the one
holding the record after it, are read again in order, one request at a time,
until the distinct records of the group seen reach ``b - a + 1``. Round 1's
first answer shows where the group starts (``a``: its first record follows a
newer one, or is the list's first) and its last answer where it ends (``b``: its
last record comes before an older one, or is the list's last), both with the
same total ``T``. Every later answer must show the same; otherwise the group
moved (or lost records) and is placed again.

Why that many distinct records are the whole group. Records are created newest,
so the count of records older than the group never grows; the group was
created before the sync, so it never gains a record. At round 1's last answer
that count was ``T - b - 1``, so at its first answer it was at least that, and
the group held at most ``T - a - (T - b - 1) = b - a + 1`` records. Every record
of the group seen since was one of those. Once ``b - a + 1`` distinct ones were
seen, they are all of them, so each record present for the whole walk was seen.
Nothing here does I/O.
"""

from __future__ import annotations

import typing as t

from tap_reviewrover.page_answers import PaginationError

if t.TYPE_CHECKING:
    from tap_reviewrover.page_answers import Page, PageKey

#: Rounds over a group larger than a page before the walk stops. A record is
#: missed by a round of p pages with a chance near (1 - 1/p)^p < 0.37 at worst,
#: so 30 rounds miss one of a million records with a chance below 1e-7.
MAX_GROUP_ROUNDS = 30


class GroupRounds:
    """Rounds over the pages of a group larger than a page (see the module doc).

    Attributes:
        key: The group's creation key.
        request: The request to make next.
    """

    def __init__(self, key: object, requests: list[PageKey]) -> None:
        """Start round 1.

        Args:
            key: The group's creation key.
            requests: The pages that hold the group and one record past each
                edge, in page order: the first shows where it starts, the last
                where it ends.
        """
        self.key = key
        self._requests = requests
        self._round = 1
        self._index = 0
        self._total: int | None = None
        self._start: int | None = None  # a: the place of its first record
        self._end: int | None = None  # b: the place of its last record
        self._seen: set[object] = set()
        self.request = requests[0]

    def take(self, page: Page[t.Any], run: tuple[int, int] | None) -> bool | None:
        """Take in the answer to :attr:`request`.

        Args:
            page: The answer, checked on its own.
            run: The indexes of the group's first and last records on it.

        Returns:
            True once the group was read whole; None if it is not where round 1
            saw it, with round 1's total (place it again); False otherwise.

        Raises:
            PaginationError: If :data:`MAX_GROUP_ROUNDS` rounds did not serve it.
        """
        if run is None or not self._as_before(page, run):
            return None
        self._seen.update(page.ids[run[0] : run[1] + 1])
        if self.size and len(self._seen) == self.size:
            return True
        self._index += 1
        if self._index == len(self._requests):
            self._index, self._round = 0, self._round + 1
            if self._round > MAX_GROUP_ROUNDS:
                msg = (
                    f"the {self.size} records created at {self.key} are more than "
                    f"one page holds, and {MAX_GROUP_ROUNDS} rounds of reading them "
                    "did not serve each one: the API orders records of the same "
                    "creation time differently on each request"
                )
                raise PaginationError(msg)
        self.request = self._requests[self._index]
        return False

    @property
    def size(self) -> int:
        """The group's size, ``b - a + 1``, once round 1 showed both (else 0)."""
        if self._start is None or self._end is None:
            return 0
        return self._end - self._start + 1

    def _as_before(self, page: Page[t.Any], run: tuple[int, int]) -> bool:
        """Whether the answer shows the group where every answer before did."""
        (first, last), count = run, len(page.records)
        place = page.first_position
        if self._total not in (None, page.total):
            return False
        self._total = page.total
        if self._index == 0:  # its first record, after a newer one
            if not ((first > 0 or place == 0) and last == count - 1):
                return False
            self._start = _same(self._start, place + first)
            return self._start is not None
        if self._index == len(self._requests) - 1:  # its last, before an older one
            if not (first == 0 and (last < count - 1 or page.reaches_the_end)):
                return False
            self._end = _same(self._end, place + last)
            return self._end is not None
        return (first, last) == (0, count - 1)  # all of the page is the group


def _same(before: int | None, now: int) -> int | None:
    """``now`` if it is what was seen before (or nothing was), else None."""
    return now if before in (None, now) else None
