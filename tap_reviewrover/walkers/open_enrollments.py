"""The narrow walk: a sync that costs what changed, not what exists.

``incremental_strategy: open_enrollments``. The API cannot filter on
``updated_at``, but it can on ``completed``, and it serves one enrollment by
id. If a completed enrollment does not change again except by deletion (the
assumption, see :mod:`tap_reviewrover.open_state`), everything that changed
since the last sync is found by three walks, each a :class:`FullScan` with all
its checks (completeness, ties, drift, clocks) or the requester's rules:

a. the **newest pages** of the list, until a page ends with an enrollment
   created before the bookmark's window (those created since the last sync);
b. every page of ``completed=false``, several at a time (those open now);
c. ``GET /v1/enrollments/{id}`` for each id open at the last sync and in
   neither walk: completed since, or deleted (404).

What is emitted: what was updated within the bookmark's window (the
coordinator's rule), and what opened or completed since the last sync whatever
its ``updated_at`` says (:class:`~tap_reviewrover.open_ledger.Ledger`). The
open ids go into the state (compact: ``id_sets``) once the sync is whole.

Every ``full_scan_every_hours``, or when the narrow walk would cost more than
half of it, or cannot be done (no open set: the first sync in this mode, or a
lost state), the sync walks every page instead (one log line says why), emits
what changed since the last such walk that the narrow walks may have missed,
and counts the edits of completed enrollments among them: the evidence for or
against the assumption. A deletion the narrow walk sees (404) is counted and
logged; the target keeps the row until the FULL_TABLE job retires it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from operator import attrgetter

from typing_extensions import override

from tap_reviewrover.errors import BadResponseError, InvalidStateError
from tap_reviewrover.fetching import PageFetcher
from tap_reviewrover.open_ledger import Ledger
from tap_reviewrover.open_state import (
    STATE_KEY,
    Choice,
    OpenState,
    choose_walk,
    pages,
    too_costly,
)
from tap_reviewrover.walkers.base import TakenPage, Walker
from tap_reviewrover.walkers.full_scan import FullScan

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_reviewrover.pages import FetchedPage
    from tap_reviewrover.walkers.base import WalkPlan, WalkResult

#: Ids named in the log line about deletions, at most.
NAMED_IDS = 10
#: The summary line's phrase for the pages of each walk.
NEWEST, OPEN, WHOLE = (
    "pages of new enrollments",
    "pages of open enrollments",
    "pages of the whole list",
)


class OpenEnrollments(Walker):
    """The narrow walk, or every page when it does not pay (see the module doc)."""

    def __init__(self, plan: WalkPlan) -> None:
        """Read the state the last sync left; nothing is requested yet.

        Args:
            plan: What the walk may use (see :class:`WalkPlan`).

        Raises:
            InvalidStateError: If the strategy's data in the state is unusable.
        """
        super().__init__(plan)
        settings = plan.settings
        most = int(settings.get("max_open_ids", 1_000_000))
        partition = plan.partition
        self._where = f" for {dict(partition)}" if partition else ""
        try:
            raw = plan.state.get(STATE_KEY)
            previous = None if raw is None else OpenState.parse(raw, most=most)
        except ValueError as problem:
            msg = (
                f"The state's {STATE_KEY!r} data for {plan.names[0]}{self._where} "
                f"cannot be used: {problem}. Remove that key from the state (the "
                "next sync then reads every page once) or run with --full-refresh."
            )
            raise InvalidStateError(msg) from None
        self._previous, self._most = previous, most
        self._lookback = dt.timedelta(seconds=int(settings.get("lookback_seconds", 0)))
        self.ledger = Ledger(previous, plan.keys, most=most, lookback=self._lookback)
        self._active: FullScan | PageFetcher[int, FetchedPage] | None = None
        self._newest_pages = self._reads = 0
        self._staged: OpenState | None = None
        self._taken_newest: set[tuple[t.Any, t.Any]] = set()  # what walk (a) took
        id_of, _, updated_of = map(attrgetter, plan.keys)
        self._version: Callable[[t.Any], tuple[t.Any, t.Any]] = lambda record: (
            id_of(record),
            updated_of(record),
        )

    def pages(self, on_first: Callable[[FetchedPage], None]) -> Iterator[TakenPage]:
        """The narrow walk's three walks, or every page (see the module doc).

        Args:
            on_first: Called with the sync's first answer.

        Yields:
            The records taken from each answer, with those to emit whatever
            the bookmark's window says.
        """
        plan = self.plan

        def first(fetched: FetchedPage) -> None:
            on_first(fetched)  # the coordinator's rules first, then the ledger's
            ledger.settle(
                plan.state, plan.settings, (fetched.api_clock, fetched.received_at)
            )

        choice = choose_walk(
            self._previous,
            bookmark=plan.state.get("replication_key_value"),
            now=dt.datetime.now(dt.timezone.utc),
            every_hours=int(plan.settings.get("full_scan_every_hours", 24)),
            max_open_ids=self._most,
            page_size=plan.page_size,
        )
        if choice.forget:  # stale: as if the state held none of it
            self.ledger = Ledger(
                None, plan.keys, most=self._most, lookback=self._lookback
            )
        ledger = self.ledger
        if choice.full:
            yield from self._every_page(first, choice)
        else:
            # A few pages an hour: one at a time, none fetched in vain ahead.
            newest = dataclasses.replace(plan, workers=1)
            stop = FullScan(newest, stop_after=lambda f: ledger.newest_done(f.records))
            yield from self._walk(stop, first, NEWEST)
            self._newest_pages = stop.result.pages
            if ledger.since is None or ledger.set_aside:
                why = (
                    "the bookmark was set aside (see the warning above)"
                    if ledger.set_aside
                    else "there is no bookmark nor start_date to end the newest pages"
                )
                yield from self._every_page(None, Choice(full=True, reason=why))
            else:
                yield from self._open_then_left()
        self._staged = ledger.next_state(
            total=self.result.total, newest_pages=self._newest_pages, reads=self._reads
        )
        self._count("open now", self._staged.open_count)
        if ledger.missed is not None:
            phrase = "edits of completed enrollments a narrow walk would miss"
            self._count(phrase, ledger.missed)
        self.result.whole = True

    def _open_then_left(self) -> Iterator[TakenPage]:
        """Walks (b) and (c): every open enrollment, then those that left."""
        plan = self.plan
        open_only = dataclasses.replace(
            plan,
            fetch=plan.filtered({"completed": "false"}),
            partition={**(plan.partition or {}), "completed": False},
        )
        yield from self._walk(FullScan(open_only), None, OPEN)
        left = self.ledger.left()
        full = pages(self.result.total, plan.page_size)
        if too_costly(len(left), full):
            why = (
                f"{len(left)} enrollments open at the last sync are in neither walk, "
                f"and reading each would take more than half of the {full} requests "
                "of a walk of every page"
            )
            yield from self._every_page(None, Choice(full=True, reason=why))
        else:
            yield from self._read_each(left)

    def _every_page(
        self, first: Callable[[FetchedPage], None] | None, choice: Choice
    ) -> Iterator[TakenPage]:
        log = self.plan.logger.warning if choice.warn else self.plan.logger.info
        log(
            "Reading every page of %s%s: %s.",
            self.plan.names[0],
            self._where,
            choice.reason,
        )
        self.ledger.walk_every_page()
        self._newest_pages = 0
        yield from self._walk(FullScan(self.plan), first, WHOLE)

    def _walk(
        self, scan: FullScan, first: Callable[[FetchedPage], None] | None, phrase: str
    ) -> Iterator[TakenPage]:
        """Run one walk of pages, the ledger judging each record it takes."""
        ledger, taken_newest, version = self.ledger, self._taken_newest, self._version
        self._active = scan
        newest = phrase == WHOLE  # how many pages walk (a) would have read
        try:
            for taken in scan.pages(first or (lambda _: None)):
                records = taken.records
                if newest:
                    self._newest_pages += 1
                    newest = not ledger.newest_done(taken.fetched.records)
                if phrase == NEWEST:
                    taken_newest.update(map(version, records))
                elif taken_newest:  # taken by walk (a) already: emitted once
                    records = [r for r in records if version(r) not in taken_newest]
                yield TakenPage(records, taken.fetched, ledger.judge(records))
        finally:
            self._active = None
            self._add(scan.result, phrase)
        if phrase != OPEN:  # the whole list: its size
            self.result.total = scan.result.total

    def _read_each(self, ids: list[int]) -> Iterator[TakenPage]:
        """Walk (c): each enrollment open at the last sync and in neither walk."""
        gone: list[int] = []
        retrieve = self.plan.retrieve
        fetcher: PageFetcher[int, FetchedPage]

        def read(record_id: int) -> FetchedPage:
            return retrieve(record_id, fetcher.closed)

        with PageFetcher(read, workers=self.plan.workers) as fetcher:
            self._active = fetcher
            fetcher.request(ids, 0)
            for record_id in ids:
                fetched = fetcher.take(record_id, 0)
                self._reads += 1
                if not fetched.records:  # 404: deleted since the last sync
                    gone.append(record_id)
                    yield TakenPage([], fetched)  # a request all the same
                    continue
                self._check_one(record_id, fetched)
                kept = self.ledger.judge(fetched.records)
                yield TakenPage(fetched.records, fetched, kept)
        self._active = None
        self._count("enrollments read one by one", len(ids))
        self._count("deleted (404)", len(gone))
        if gone:
            named = ", ".join(map(str, gone[:NAMED_IDS]))
            self.plan.logger.info(
                "%d %s open at the last sync%s were deleted since (HTTP 404): ids "
                "%s%s; their rows stay in the target until the FULL_TABLE job "
                "retires them.",
                len(gone),
                self.plan.names[0],
                self._where,
                named,
                ", ..." if len(gone) > NAMED_IDS else "",
            )

    def _check_one(self, record_id: int, fetched: FetchedPage) -> None:
        """A record read by id is that record, of this partition."""
        (record,) = fetched.records
        id_key = self.plan.keys[0]
        wrong = {
            name: getattr(record, name, wanted)
            for name, wanted in {
                id_key: record_id,
                **(self.plan.partition or {}),
            }.items()
            if getattr(record, name, wanted) != wanted
        }
        if wrong:
            msg = (
                f"ReviewRover answered the request for record {record_id} of "
                f"{self.plan.names[0]} with a record of {wrong}, not of this "
                f"partition{self._where}: the sync stopped rather than load it "
                "under this partition's bookmark."
            )
            raise BadResponseError(msg)
        if fetched.unknown_fields:
            self.plan.logger.warning(
                "ReviewRover sent fields the tap does not know yet, left out of "
                "the records: %s.",
                ", ".join(sorted(fetched.unknown_fields)),
            )

    def _add(self, walk: WalkResult, phrase: str) -> None:
        result = self.result
        result.pages += walk.pages
        result.records += walk.records
        result.drift_rereads += walk.drift_rereads
        result.inconsistent_rereads += walk.inconsistent_rereads
        result.notes.extend(walk.notes)
        self._count(phrase, walk.pages)

    def _count(self, phrase: str, count: int) -> None:
        self.result.counts[phrase] = self.result.counts.get(phrase, 0) + count

    @override
    def finish(self) -> None:
        # After the bookmark moved: the open set goes with the new bookmark.
        if self._staged is not None:
            bookmark = self.plan.state.get("replication_key_value")
            staged = dataclasses.replace(self._staged, bookmark=bookmark)
            self.plan.state[STATE_KEY] = staged.to_state()

    @override
    def post(self, notice: Callable[[], None]) -> None:
        if self._active is not None:
            self._active.post(notice)
