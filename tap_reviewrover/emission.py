"""Which records a walk emits, and whether one pass of it read the whole list.

A record is emitted once per walk, with one exception: a copy of an id emitted
before is emitted again only if its replication key is newer. The newest version
wins, whatever order the API serves copies in; an older or equal copy is dropped
and counted. Ids and versions are kept compactly
(:mod:`tap_reviewrover.emitted_ids`), across the walk's passes.

A pass in which every answer reported the same total, and no record created
meanwhile showed up, read the list as it stood the whole time: it took at least
that many distinct records (more when some it took were deleted since, their
places taken by new records it did not reach). Fewer means one was never served
(an id came twice in its place): :meth:`Emission.count_problem` says so, and
:meth:`Emission.shows_a_change` tells from page 1, read once more, whether a
record created meanwhile explains it.
"""

from __future__ import annotations

import typing as t

from tap_reviewrover.emitted_ids import EmittedVersions, IdSet, Kept

if t.TYPE_CHECKING:
    from tap_reviewrover.page_answers import Page

R = t.TypeVar("R")

#: The version of a record whose stream has no replication key.
NO_VERSION = 0


class Emission:
    """What a walk emitted (every pass), and what its current pass took.

    Attributes:
        copies_dropped: Records not emitted because a copy at least as new was.
        newer_copies: Records emitted again because they are newer than the
            copy emitted before.
    """

    def __init__(self) -> None:
        """Start with nothing emitted."""
        self.copies_dropped = 0
        self.newer_copies = 0
        self._versions = EmittedVersions()
        self.new_pass()

    def new_pass(self) -> None:
        """Start a pass over the list: its ids and totals start afresh."""
        # A pass that starts with nothing emitted takes exactly the ids it
        # emits: it needs no set of its own.
        self._pass_ids = IdSet() if len(self._versions) else None
        self._total: int | None = None
        self._moved = False

    def emit(
        self,
        page: Page[R],
        new: t.Sequence[int] | None = None,
        again: t.Sequence[int] = (),
    ) -> list[R]:
        """The records of an answer to emit, in its order.

        Args:
            page: The answer.
            new: The indexes of its records taken now, for the first time in this
                pass (emitted unless a copy at least as new was); None: all but
                those in ``again``.
            again: The indexes of its records ahead of the walk, taken before or
                created since it started (emitted only if emitted before, older).

        Returns:
            The records to emit.
        """
        ids, records = page.ids, page.records
        updated = page.updated or [NO_VERSION] * len(ids)
        if new is None:
            skipped = set(again)
            new = [i for i in range(len(ids)) if i not in skipped] if again else None
        new_ids = ids if new is None else [ids[i] for i in new]
        new_versions = updated if new is None else [updated[i] for i in new]
        if self._pass_ids is not None:
            self._pass_ids.update(new_ids)
        whole = page.updated_seconds if new is None else None
        kept = self._versions.keep_newer(new_ids, new_versions, whole_seconds=whole)
        if not again and kept.count(Kept.FIRST) == len(kept):
            # The usual answer: every record new, and emitted for the first time.
            return list(records) if new is None else [records[i] for i in new]
        chosen: list[int] = []
        indexes = range(len(ids)) if new is None else new
        for index, outcome in zip(indexes, kept, strict=True):
            if outcome is Kept.NOT_NEWER:
                self.copies_dropped += 1  # served again, and not newer
                continue
            self.newer_copies += outcome is Kept.NEWER
            chosen.append(index)
        chosen += [i for i in again if self._newer_again(ids[i], updated[i])]
        return [records[index] for index in sorted(chosen)]

    def _newer_again(self, record_id: object, version: int) -> bool:
        """Keep a copy of a record ahead of the walk if it is newer than emitted."""
        if not self._taken_in_pass(record_id):
            self._moved = True  # created during the walk: the list changed
        before = self._versions.get(record_id)
        if before is None or version <= before:
            return False  # not emitted (it waits for the next sync), or not newer
        self._versions.keep_newer([record_id], [version])
        self.newer_copies += 1
        return True

    def _taken_in_pass(self, record_id: object) -> bool:
        if self._pass_ids is None:
            return self._versions.get(record_id) is not None
        return record_id in self._pass_ids

    def note_total(self, total: int) -> None:
        """Take in the total an answer of this pass reported.

        Args:
            total: ``pagination.total``.
        """
        if self._total is None:
            self._total = total
        elif total != self._total:
            self._moved = True

    def count_problem(self) -> str | None:
        """At the end of a pass: whether it read too few records, in words.

        Returns:
            The problem, when every answer reported one total, no record created
            meanwhile showed up, and the pass took fewer distinct ids than that
            total (more is no problem: records taken and deleted since, their
            places taken by new ones the pass did not reach); otherwise None.
        """
        distinct = len(self._versions if self._pass_ids is None else self._pass_ids)
        total = self._total
        if self._moved or total is None or distinct >= total:
            return None
        return (
            f"every answer said the list holds {total} records, yet the walk read "
            f"{distinct} distinct ones"
        )

    def shows_a_change(self, first_page: Page[t.Any]) -> bool:
        """Whether page 1, read at the end of a pass, shows the list changed.

        With the total standing, a record deleted during the pass means one
        created, and a record created would be on page 1 (new records are the
        newest) unless deleted again, which would lower the total.

        Args:
            first_page: Page 1, as it stands now.

        Returns:
            True when its total differs from the pass's, or it holds a record
            the pass did not take.
        """
        self.note_total(first_page.total)
        for record_id in first_page.ids:
            if not self._taken_in_pass(record_id):
                self._moved = True
        return self._moved
