"""How far a walk's pass reaches, and whether the next answer joins on to it.

:class:`Cursor` holds the oldest creation time taken so far (plus the ids taken
at exactly that time): every record newer than it was taken, and every record at
it was taken or belongs to the tie group read whole before the walk moves past
it (:mod:`tap_reviewrover.tie_groups`). It decides whether a page joins on to
that (:meth:`Cursor.joins`), whether it contradicts it
(:meth:`Cursor.problem`), and takes the records past it (:meth:`Cursor.take`).
See :mod:`tap_reviewrover.paging` for why these rules hold. Nothing here does I/O.
"""

from __future__ import annotations

import collections
import itertools
import operator
import typing as t

if t.TYPE_CHECKING:
    from tap_reviewrover.emission import Emission
    from tap_reviewrover.page_answers import Page

R = t.TypeVar("R")

#: Pages of new records whose ids the walk remembers, to tell a record pushed
#: down by records created since (read already) from one the API never served.
REMEMBERED_PAGES = 8


class Cursor:
    """The reach of one pass over the list.

    Attributes:
        key: The oldest creation key taken; None before the first record.
        ids_at_key: The ids taken at exactly that key.
        page: The page taken last.
        anchor_total: The total of the anchor (see :mod:`tap_reviewrover.paging`).
        previous_total: The total of the page taken last.
        taken_again_at_key: Records at the key before the page taken last that
            it served again.
    """

    def __init__(self) -> None:
        """Start before the first record."""
        self.key: t.Any = None
        self.ids_at_key: set[object] = set()
        self.page = 0
        self.anchor_total = 0
        self.previous_total: int | None = None
        self.taken_again_at_key = 0
        self._recent_ids: collections.deque[frozenset[object]] = collections.deque(
            maxlen=REMEMBERED_PAGES,
        )

    def remember(self, ids: t.Collection[object]) -> None:
        """Remember ids taken outside the pages (reads of a tie group).

        Args:
            ids: The ids.
        """
        if ids:
            self._recent_ids.append(frozenset(ids))

    def problem(self, page: Page[t.Any], created_since_start: t.Any) -> str | None:  # noqa: ANN401 - a creation key
        """What makes the page contradict the pages before it, if anything.

        Args:
            page: The next page, checked on its own.
            created_since_start: Creation key from which a record counts as
                created during the walk; None if unknown.

        Returns:
            The contradiction in words; None when there is none.
        """
        created, ids, cursor = page.created, page.ids, self.key
        if cursor is None or page.number == 1:
            return None
        read_before = 0
        for record_id, key in zip(ids, created, strict=True):
            if key < cursor or (key == cursor and record_id not in self.ids_at_key):
                break
            read_before += 1
            if (
                key == cursor  # taken in this pass: one of ids_at_key
                or any(record_id in recent for recent in self._recent_ids)
                or (created_since_start is not None and key >= created_since_start)
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
        # (A page all of the cursor's creation time is one tie group served in
        # another order: it is read whole before the walk moves past it.)
        if (
            ids
            and read_before == len(ids)
            and page.total == self.previous_total
            and page.number == self.page + 1
            and created[0] != cursor
        ):
            return (
                f"page {page.number} repeats records already read, with the same "
                "total: the API is not honouring the 'page' parameter"
            )
        return None

    def joins(self, page: Page[t.Any]) -> bool:
        """Whether the page, read now, joins on to what was taken so far.

        Args:
            page: The next page, checked.

        Returns:
            False when records may have slid up past it since the page before.
        """
        if self.key is None or page.number == 1:
            return True
        if self._overlaps(page):
            return True
        # No overlap: the record after the cursor is on this page only if it
        # cannot have moved up since the cursor's page was read. New records
        # only appear at the front, so it moves up only when the total falls
        # below the anchor's (every answer between the anchor and the cursor's
        # page reported the anchor's total and joined without overlap).
        return page.number == self.page + 1 and page.total >= self.anchor_total

    def _overlaps(self, page: Page[t.Any]) -> bool:
        cursor = self.key
        if not page.created or max(page.created) < cursor:
            return False  # the usual page: every key past the cursor (found in C)
        return any(
            key > cursor or (key == cursor and record_id in self.ids_at_key)
            for record_id, key in zip(page.ids, page.created, strict=True)
        )

    def take(self, page: Page[R], emission: Emission) -> tuple[list[R], bool, bool]:
        """Take the page's records past the cursor and move on to the page.

        Args:
            page: The page, which joins on.
            emission: What the walk emitted: decides which records to emit.

        Returns:
            The records to emit; whether the page must be the new anchor (it is
            page 1, holds records newer than the cursor read before, or its
            total differs from the anchor's); and whether, not an anchor, it may
            overlap what was taken: it holds records at the cursor's time, and
            records of one time come in any order, so a place read before may
            be served as one not taken yet, and one taken may come again
            without any place read twice.
        """
        cursor, at_cursor = self.key, self.ids_at_key
        unsure_key = cursor  # records at it taken before prove no shift
        unsure = cursor is not None and cursor in page.created
        ids, created = page.ids, page.created
        cursor, at_cursor, again = taken_past(created, ids, cursor, at_cursor)
        skipped = set(again)
        taken = [ids[i] for i in range(len(ids)) if i not in skipped] if again else ids
        self.key, self.ids_at_key = cursor, at_cursor
        self.remember(taken)
        again_at_key = sum(created[index] == unsure_key for index in again)
        self.taken_again_at_key = again_at_key
        pushed_down = again_at_key < len(again)  # records newer than the cursor
        anchor = page.number == 1 or pushed_down or page.total != self.anchor_total
        if anchor:
            self.anchor_total = page.total
        self.page = page.number
        self.previous_total = page.total
        return emission.emit(page, again=again), anchor, unsure and not anchor


def taken_past(
    created: t.Sequence[t.Any],
    ids: t.Sequence[object],
    cursor: t.Any,  # noqa: ANN401 - a creation key
    at_cursor: set[object],
) -> tuple[t.Any, set[object], list[int]]:
    """Walk a page from the cursor: the records past it are taken.

    Args:
        created: The page's creation keys.
        ids: The page's ids.
        cursor: The oldest creation key taken; None before the first record.
        at_cursor: The ids taken at the cursor (added to in place when the page
            goes on at the cursor's key).

    Returns:
        The new cursor, the ids taken at it, and the indexes of the records not
        taken (taken already, pushed down, or created since).
    """
    if (
        created
        and (cursor is None or created[0] < cursor)
        and all(map(operator.ge, created, itertools.islice(created, 1, None)))
        and len(set(ids)) == len(ids)
    ):
        # The usual page: it starts past the cursor, newest first, each id
        # once, so every record is taken. Built-ins find where it ends, about
        # 100 instructions a record fewer than the loop below (measured).
        last = created[-1]
        return last, set(ids[created.index(last) :]), []
    again: list[int] = []
    for index, key in enumerate(created):
        if cursor is None or key < cursor:
            cursor, at_cursor = key, {ids[index]}
        elif key == cursor and ids[index] not in at_cursor:
            at_cursor.add(ids[index])
        else:
            again.append(index)
    return cursor, at_cursor, again
