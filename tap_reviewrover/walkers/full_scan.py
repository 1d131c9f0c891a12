"""The full scan: every page of the list, checked, several at a time when it pays.

The API cannot filter on ``updated_at``, so this walk reads every page of the
partition and takes each record once: the pure :class:`~tap_reviewrover.paging.
PageWalk` decides which page comes next and which records on it are new, and
checks every answer (see :mod:`tap_reviewrover.paging`). This module runs it:
the :class:`~tap_reviewrover.fetching.PageFetcher` threads that read ahead when
answers are slow enough for it to pay, the progress lines, and what the walk met
in words. The walk takes the pages in page order, whatever was fetched ahead.
"""

from __future__ import annotations

import typing as t
from operator import attrgetter

from typing_extensions import override

from tap_reviewrover.bookmarks import created_since
from tap_reviewrover.errors import BadResponseError
from tap_reviewrover.fetching import PageFetcher, ReadAhead
from tap_reviewrover.paging import Page, PageWalk, PaginationError
from tap_reviewrover.progress import Progress
from tap_reviewrover.timestamps import versions_of_each
from tap_reviewrover.walkers.base import TakenPage, Walker

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tap_reviewrover.pages import FetchedPage, PageKey
    from tap_reviewrover.walkers.base import WalkPlan


class FullScan(Walker):
    """Reads every page of one partition (see the module doc)."""

    def __init__(
        self,
        plan: WalkPlan,
        *,
        stop_after: Callable[[FetchedPage], bool] | None = None,
    ) -> None:
        """Prepare the walk; nothing is read yet.

        Args:
            plan: What the walk may use (see :class:`WalkPlan`).
            stop_after: Asked of each answer once its records are taken: True
                ends the walk there, whole up to it (a walk of the newest pages
                only, as another strategy's part). None: every page.
        """
        super().__init__(plan)
        self._stop_after = stop_after
        self._id_of, self._created_of, self._updated_of = map(attrgetter, plan.keys)
        self._filters = list((plan.partition or {}).items())
        self._stream_name, self._where = plan.names
        self._logger = plan.logger
        self._fetcher: PageFetcher[PageKey, FetchedPage] | None = None

    def pages(self, on_first: Callable[[FetchedPage], None]) -> Iterator[TakenPage]:
        """Walk every page (see :meth:`Walker.pages`).

        Args:
            on_first: Called with the first answer before anything is taken.

        Yields:
            The new records of each page, in page order.
        """
        walk: PageWalk[t.Any] = PageWalk(self.plan.page_size)
        progress = Progress(self._logger, self._stream_name, self.plan.partition)
        # Pages requested ahead of the walk, once responses are slow enough for
        # it to pay; one by one, each page only after the last was emitted.
        ahead = ReadAhead(self.plan.workers)
        result = self.result
        first = True
        with PageFetcher(
            self._fetch_page, workers=self.plan.workers, on_close=self.plan.interrupt
        ) as fetcher:
            self._fetcher = fetcher
            while (key := walk.next_request) is not None:
                # The walk takes its answers in its order, whatever was asked ahead.
                fetcher.request(walk.pages_ahead(ahead.pages), walk.epoch)
                fetched = fetcher.take(key, walk.epoch)
                ahead.answered_in(fetched.seconds)
                if first:
                    first = False
                    on_first(fetched)
                    clock = created_since(fetched.api_clock, fetched.received_at)
                    walk.created_since_start = clock
                records = self._take(walk, fetched)
                result.total = fetched.pagination.total
                yield TakenPage(records, fetched)
                progress.page_done(walk, fetched.pagination.total, len(records))
                if self._stop_after is not None and self._stop_after(fetched):
                    break
        # Every request sent counts, those read ahead and never used too (a page
        # read ahead goes stale when the walk re-anchors, or is left at its end).
        result.pages = fetcher.sent
        result.drift_rereads = walk.drift_rereads + fetcher.sent - walk.requests
        result.inconsistent_rereads = walk.inconsistent_rereads
        result.whole = True
        if walk.drift_rereads:
            result.notes.append(
                f"The list changed during the sync: {walk.drift_rereads} page(s) "
                "read again so that no record was skipped."
            )
        if walk.tie_reads:
            result.notes.append(
                f"{walk.tie_reads} extra read(s) took in whole the records created in "
                "the same second that a page boundary split (the API may order them "
                "differently on every request)."
            )
        if walk.copies_dropped or walk.newer_copies:
            result.notes.append(
                f"The API served records already taken again: {walk.newer_copies} "
                f"newer version(s) emitted, {walk.copies_dropped} older or equal "
                "copies left out."
            )

    @override
    def post(self, notice: Callable[[], None]) -> None:
        if self._fetcher is not None:
            self._fetcher.post(notice)

    def _fetch_page(self, key: PageKey) -> FetchedPage:
        assert self._fetcher is not None  # noqa: S101 - only the fetcher calls this
        return self.plan.fetch(key, self._fetcher.closed)

    def _take(self, walk: PageWalk[t.Any], fetched: FetchedPage) -> list[t.Any]:
        """Hand an answer to the walk, which checks it; return its new records."""
        if fetched.unknown_fields:
            self._logger.warning(
                "ReviewRover sent fields the tap does not know yet, left out of "
                "the records: %s.",
                ", ".join(sorted(fetched.unknown_fields)),
            )
        records, pagination = fetched.records, fetched.pagination
        self._check_partition(records, fetched.number)
        # The walk keeps the newest version of a record served twice.
        versions = versions_of_each(map(self._updated_of, records))
        page = Page(
            number=fetched.number,
            limit=fetched.limit,
            records=records,
            created=list(map(self._created_of, records)),
            ids=list(map(self._id_of, records)),
            total=pagination.total,
            total_pages=pagination.total_pages,
            reported_number=pagination.page,
            reported_limit=pagination.limit,
            updated=versions.microseconds,
            updated_seconds=versions.seconds,
        )
        adapted, restarts = walk.adapted, walk.restarts
        try:
            new_records = walk.accept(page)
        except PaginationError as exc:
            msg = (
                f"Cannot read ReviewRover's {self._stream_name} list safely: {exc}. "
                "Nothing after the last complete sync was taken as read: the "
                "bookmark has not moved."
            )
            raise BadResponseError(msg) from None
        if walk.restarts != restarts:
            self._logger.warning(
                "ReviewRover's pages disagree (%s): reading the list again from page "
                "1. Records sent already are sent again only if changed since.",
                walk.restart_reason,
            )
        if walk.adapted != adapted and walk.adapted is not None:
            how, size = walk.adapted
            self._logger.warning(
                "ReviewRover serves at most %d %s a page (%s); reading pages of %d.",
                size,
                self._stream_name,
                "it says so" if how == "declared" else "without saying so",
                size,
            )
        self.result.records += len(new_records)
        return new_records

    def _check_partition(self, records: list[t.Any], number: int) -> None:
        """Every record must belong to the partition the API was asked for."""
        for name, wanted in self._filters:
            for record in records:
                # A filter that is no field of the records cannot be checked.
                if (value := getattr(record, name, wanted)) != wanted:
                    msg = (
                        f"ReviewRover's page {number} of {self._where} lists "
                        f"record {self._id_of(record)!r} of {name} {value!r}, while "
                        f"only {name} {wanted!r} was asked for: the API ignored the "
                        "filter, and the sync stopped rather than load another "
                        "partition's rows under this one's bookmark."
                    )
                    raise BadResponseError(msg)
