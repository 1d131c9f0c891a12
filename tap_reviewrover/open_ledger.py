"""What one sync in ``open_enrollments`` mode learns, record by record (no I/O).

The walker (:mod:`tap_reviewrover.walkers.open_enrollments`) reads the pages and
hands every record it takes to a :class:`Ledger`, which answers whether to emit
it beyond the bookmark's window (:func:`~tap_reviewrover.open_state.
kept_because`) and notes what the next sync needs: which ids are open now,
which ids open at the last sync were seen (the others are read one by one),
which completed versions were emitted, and, in a walk of every page, the edits
of completed enrollments a narrow walk misses. :meth:`Ledger.next_state` is
what the state keeps once the sync is whole.
"""

from __future__ import annotations

import typing as t
from array import array
from itertools import groupby
from operator import attrgetter

from tap_reviewrover.bookmarks import emit_window, next_bookmark, sync_start
from tap_reviewrover.id_sets import contains, fingerprint
from tap_reviewrover.open_state import OpenState, kept_because, missed_edit
from tap_reviewrover.timestamps import parse_timestamp

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping


class Ledger:
    """One partition's sync in ``open_enrollments`` mode (see the module doc).

    Attributes:
        previous: What the last sync kept (None: nothing usable).
        since: The bookmark's window starts here (the coordinator's rule, from
            the same inputs): walk (a) ends at the first page that reaches
            further back. None: no bookmark nor start_date.
        set_aside: The bookmark was set aside (later than the clocks).
        bookmark: This sync's start as a bookmark (None without a ``Date``).
        full: The records come from a walk of every page.
        missed: Edits of completed enrollments a narrow walk misses, found
            by the walk of every page; None when they cannot be counted.
    """

    def __init__(
        self,
        previous: OpenState | None,
        keys: tuple[str, str, str],
        *,
        most: int,
        lookback: dt.timedelta,
    ) -> None:
        """Start a sync's ledger.

        Args:
            previous: What the last sync kept, if anything.
            keys: The records' id, creation and replication fields.
            most: ``max_open_ids``.
            lookback: ``lookback_seconds``.
        """
        self.previous = previous
        self._id_of, self._created_of, self._updated_of = map(attrgetter, keys)
        self._most = most
        self._lookback = lookback
        ids = previous.open_ids if previous else None
        self._before = ids
        self._seen = bytearray(len(ids or ()))
        self._open_now: array[int] = array("q")
        self._emitted: array[int] = array("q")  # fingerprints of completed ones
        self.since: dt.datetime | None = None
        self.set_aside = False
        self.bookmark: dt.datetime | None = None
        self.full = False
        self.missed: int | None = None

    def settle(
        self,
        state: Mapping[str, t.Any],
        settings: Mapping[str, t.Any],
        clocks: tuple[dt.datetime | None, dt.datetime],
    ) -> None:
        """Take in the sync's first answer: the window's start, the sync's start.

        Args:
            state: The partition's state (its bookmark).
            settings: The tap's settings.
            clocks: The first answer's ``Date`` and this host's clock then.
        """
        text = state.get("replication_key_value")
        window, self.set_aside = emit_window(
            bookmark=parse_timestamp(text) if text else None,
            start_date=_moment(settings.get("start_date")),
            end_date=_moment(settings.get("end_date")),
            lookback=self._lookback,
            clocks=clocks,
        )
        self.since = window.start
        self.bookmark = next_bookmark(sync_start(*clocks)[0])

    def walk_every_page(self) -> None:
        """The next records come from a walk of every page: count what was missed."""
        self.full = True
        previous = self.previous
        counts = (
            previous is not None
            and previous.completed_emitted is not None
            and previous.full_walk_bookmark is not None
            and self._before is not None
        )
        self.missed = 0 if counts else None

    def newest_done(self, records: list[t.Any]) -> bool:
        """Whether a page's records reach back past the window's start.

        Args:
            records: The page's records, newest created first.

        Returns:
            True: walk (a) ends with this page.
        """
        if self.since is None or self.set_aside or not records:
            return True
        return bool(self._created_of(records[-1]) < self.since)

    def judge(self, records: list[t.Any]) -> list[t.Any]:
        """Note what each record says; return those to emit whatever the window.

        Args:
            records: Records a walk took.

        Returns:
            Those whose completion changed since the last sync, and in a walk
            of every page the edits a narrow walk misses.
        """
        kept = []
        before, seen = self._before, self._seen
        for record in records:
            record_id = self._id_of(record)
            open_now = record.completed is not True  # None: not known to be done
            position = None if before is None else contains(before, record_id)
            if position is not None:
                seen[position] = 1
            open_before = None if before is None else position is not None
            missed = open_before is not None and self._missed(
                record, open_now=open_now, open_before=open_before
            )
            keep = kept_because(
                open_now=open_now, open_before=open_before, missed=missed
            )
            if keep:
                kept.append(record)
            if open_now:
                self._open_now.append(record_id)
            elif self._emits(self._updated_of(record), kept=keep is not None):
                self._emitted.append(fingerprint(record_id, self._updated_of(record)))
        return kept

    def left(self) -> list[int]:
        """Ids open at the last sync that no walk has taken yet (walk (c) reads them).

        Returns:
            The ids, ascending.
        """
        before = self._before
        if before is None:
            return []
        return [before[i] for i, seen in enumerate(self._seen) if not seen]

    def next_state(self, *, total: int, newest_pages: int, reads: int) -> OpenState:
        """What the state keeps for the next sync, once this one is whole.

        Args:
            total: The list's size.
            newest_pages: Pages walk (a) read, or would have.
            reads: Records read one by one (in a walk of every page: how many
                walk (c) would have read).

        Returns:
            The state (its ``bookmark`` is the caller's to set).
        """
        previous = self.previous or OpenState(completed_emitted=None)
        open_ids = _distinct(self._open_now)
        fresh = self.full and self.bookmark is not None  # a walk of all, placed
        emitted: array[int] | None = _distinct(self._emitted)
        if not fresh:
            earlier = previous.completed_emitted
            emitted = None if earlier is None else _distinct(earlier + self._emitted)
        if self.full and self._before is not None:
            reads = sum(
                1 for value in self._before if contains(open_ids, value) is None
            )
        return OpenState(
            open_count=len(open_ids),
            open_ids=open_ids if len(open_ids) <= self._most else None,
            full_walk_bookmark=self.bookmark if fresh else previous.full_walk_bookmark,
            completed_emitted=(
                emitted if emitted is not None and len(emitted) <= self._most else None
            ),
            list_total=total,
            newest_pages=max(newest_pages, 1),
            single_reads=reads,
        )

    def _missed(self, record: t.Any, *, open_now: bool, open_before: bool) -> bool:  # noqa: ANN401
        """In a walk of every page: what the narrow walks may have missed.

        Every such record is emitted; those whose version no narrow walk
        emitted (by fingerprint: only the count can be off, never what is
        emitted) are counted as missed edits.
        """
        previous = self.previous
        if not self.full or previous is None or previous.full_walk_bookmark is None:
            return False
        if self.since is None:
            return False
        updated = self._updated_of(record)
        fits = missed_edit(
            open_now=open_now,
            open_before=open_before,
            created=self._created_of(record),
            updated=updated,
            newest_since=self.since,
            repair_since=previous.full_walk_bookmark - self._lookback,
            emitted=False,
        )
        emitted = previous.completed_emitted
        if fits and self.missed is not None and emitted is not None:
            version = fingerprint(self._id_of(record), updated)
            self.missed += contains(emitted, version) is None
        return fits

    def _emits(self, updated: dt.datetime, *, kept: bool) -> bool:
        """Whether a completed version is emitted: the next walks must know it."""
        if self.full and self.bookmark is not None:  # the next repair starts later
            return bool(updated >= self.bookmark - self._lookback)
        return kept or self.since is None or bool(updated >= self.since)


def _distinct(values: array[int]) -> array[int]:
    return array("q", (value for value, _ in groupby(sorted(values))))


def _moment(text: object) -> dt.datetime | None:
    return parse_timestamp(text) if isinstance(text, str) and text else None
