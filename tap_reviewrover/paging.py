"""The page walk: which page to read next, and which records on it are new.

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
pages fetched ahead in an older epoch must be fetched again. Nothing here does
I/O.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_reviewrover.timestamps import (
    InvalidTimestampError,
    is_api_form,
    parse_timestamp,
)

Record = dict[str, t.Any]

#: Re-reads allowed per page of the list before the walk gives up (the list is
#: then changing faster than it can be read).
REREADS_PER_PAGE = 2
#: Re-reads allowed on top of that, for small lists.
EXTRA_REREADS = 10
#: Pages shorter than this are not checked for being a repeat of the page before.
MIN_PAGE_TO_JUDGE_REPEATS = 10


class UnexpectedResponseError(ValueError):
    """A list response that does not have the documented shape."""


class PaginationError(RuntimeError):
    """The API's pagination cannot be walked safely (it loops, or is unordered)."""


@dataclass(frozen=True)
class Page:
    """One list response, reduced to what the walk needs.

    Attributes:
        number: The page that was asked for.
        records: The enrollments on it, in API order.
        total: ``pagination.total`` at the moment the API answered.
        total_pages: ``pagination.total_pages`` at that moment.
        reported_number: ``pagination.page`` as the API echoed it, if it did.
    """

    number: int
    records: list[Record]
    total: int
    total_pages: int
    reported_number: int | None = None

    @classmethod
    def from_payload(cls, number: int, payload: object) -> Page:
        """Read a decoded ``GET /v1/enrollments`` body.

        Args:
            number: The page that was asked for.
            payload: The decoded JSON body.

        Returns:
            The page.

        Raises:
            UnexpectedResponseError: If the body lacks the documented
                ``enrollments`` list or ``pagination`` object.
        """
        if not isinstance(payload, dict):
            msg = f"expected a JSON object, got {type(payload).__name__}"
            raise UnexpectedResponseError(msg)
        records = payload.get("enrollments")
        if not isinstance(records, list) or not all(
            isinstance(record, dict) for record in records
        ):
            msg = "the body has no 'enrollments' list of objects"
            raise UnexpectedResponseError(msg)
        pagination = payload.get("pagination")
        if not isinstance(pagination, dict):
            msg = "the body has no 'pagination' object"
            raise UnexpectedResponseError(msg)
        total, total_pages = pagination.get("total"), pagination.get("total_pages")
        if not _is_count(total) or not _is_count(total_pages):
            msg = (
                "'pagination.total' and 'pagination.total_pages' must be "
                f"non-negative integers, got {total!r} and {total_pages!r}"
            )
            raise UnexpectedResponseError(msg)
        reported = pagination.get("page")
        return cls(
            number=number,
            records=records,
            total=total,
            total_pages=total_pages,
            reported_number=reported if _is_count(reported) else None,
        )


def _is_count(value: object) -> t.TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def creation_key(record: Record) -> str:
    """A text key that sorts records by ``created_at`` exactly.

    The API's ``YYYY-MM-DDTHH:MM:SSZ`` form is widened by slicing (no parsing per
    record); any other ISO 8601 form is parsed. All keys have the same width, so
    comparing them as text compares the moments.

    Args:
        record: An enrollment.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.ffffff`` in UTC.

    Raises:
        PaginationError: If ``created_at`` is missing or not a timestamp, as the
            walk cannot place the record in the list.
    """
    value = record.get("created_at")
    if isinstance(value, str):
        if is_api_form(value):
            return value[:19] + ".000000"
        try:
            return parse_timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%f")
        except InvalidTimestampError:
            pass
    msg = (
        f"enrollment {record.get('id')!r} has created_at {value!r}, not a "
        "timestamp; the tap needs it to walk the newest-first list safely"
    )
    raise PaginationError(msg)


class PageWalk:
    """Walks the list page by page, recovering from drift (see the module doc).

    Use it as::

        walk = PageWalk()
        while walk.next_page is not None:
            page = fetch(walk.next_page)
            emit(walk.accept(page))

    Pages in :meth:`pages_ahead` may be fetched before their turn, as long as
    they are fetched again once :attr:`epoch` has changed since the request.
    """

    def __init__(self) -> None:
        """Start at page 1 with nothing emitted."""
        self.next_page: int | None = 1
        #: Bumped on every re-anchor: earlier requests for later pages are stale.
        self.epoch = 0
        self.requests = 0
        self.drift_rereads = 0
        self._first_total_pages: int | None = None
        self._last_page: int | None = None
        self._anchor_total = 0
        # Coverage so far: every record at least as new as the cursor was emitted.
        self._cursor: str | None = None
        self._ids_at_cursor: set[object] = set()
        self._cursor_page = 0
        self._total_at_cursor = 0
        self._last_page_ids: list[object] | None = None

    def pages_ahead(self, limit: int) -> range:
        """The pages worth requesting now, :attr:`next_page` first.

        Args:
            limit: The most pages to name.

        Returns:
            :attr:`next_page` and the pages after it, up to the last page the
            latest answer knew of (only :attr:`next_page` before page 1 is read).
        """
        if self.next_page is None:
            return range(0)
        last = self._last_page if self._last_page is not None else self.next_page
        return range(
            self.next_page,
            max(self.next_page, min(last, self.next_page + limit - 1)) + 1,
        )

    def accept(self, page: Page) -> list[Record]:
        """Take in the response for :attr:`next_page`; return its new records.

        Args:
            page: The response for the page that :attr:`next_page` named.

        Returns:
            The records on the page not emitted before, in API order. Empty when
            the page has none or must be read again after an earlier one.

        Raises:
            PaginationError: If the API answered for another page, repeats a page,
                lists records out of order, or the list changes so fast that the
                walk cannot finish.
        """
        if page.number != self.next_page:
            msg = f"expected page {self.next_page}, got page {page.number}"
            raise PaginationError(msg)
        self.requests += 1
        self._check_budget(page)
        if page.reported_number is not None and page.reported_number != page.number:
            msg = (
                f"asked for page {page.number} but the API answered with page "
                f"{page.reported_number}"
            )
            raise PaginationError(msg)
        keys = [creation_key(record) for record in page.records]
        self._check_order(page, keys)
        self._check_not_repeated(page)

        if not self._continues_coverage(page, keys):
            # Records slid up across the page boundary: read the page before first.
            self.drift_rereads += 1
            self.next_page = page.number - 1
            self.epoch += 1
            return []

        new_records = self._take_new(page.records, keys)
        overlapped = len(new_records) < len(page.records)
        if page.number == 1 or overlapped or page.total != self._anchor_total:
            # The list moved (or this is the front): later pages must be read
            # after this one for the rule in _continues_coverage to hold.
            self._anchor_total = page.total
            self.epoch += 1
        self._cursor_page = page.number
        self._total_at_cursor = page.total
        self._last_page = page.total_pages
        self.next_page = page.number + 1 if page.number < page.total_pages else None
        return new_records

    def _check_budget(self, page: Page) -> None:
        if self._first_total_pages is None:
            self._first_total_pages = page.total_pages
        budget = self._first_total_pages * (1 + REREADS_PER_PAGE) + EXTRA_REREADS
        if self.requests > budget:
            msg = (
                f"gave up after {self.requests} requests for a list of "
                f"{self._first_total_pages} pages: it kept changing while it was "
                "read; run the sync again"
            )
            raise PaginationError(msg)

    @staticmethod
    def _check_order(page: Page, keys: list[str]) -> None:
        for position in range(1, len(keys)):
            if keys[position] > keys[position - 1]:
                record = page.records[position]
                msg = (
                    f"page {page.number} lists enrollment {record.get('id')!r} "
                    f"(created_at {record.get('created_at')!r}) after a newer one; "
                    "the API must list newest-created first for a safe sync"
                )
                raise PaginationError(msg)

    def _check_not_repeated(self, page: Page) -> None:
        # An API that ignores ``page`` would otherwise end the walk early with
        # every later page looking like duplicates. A correct API repeats a page
        # only if as many enrollments were created and deleted between two reads
        # as the page holds, so small pages are not judged.
        ids = [record.get("id") for record in page.records]
        if (
            len(ids) >= MIN_PAGE_TO_JUDGE_REPEATS
            and ids == self._last_page_ids
            and page.total == self._total_at_cursor
        ):
            msg = (
                f"page {page.number} repeats the enrollments of the page before it; "
                "the API is not honouring the 'page' parameter"
            )
            raise PaginationError(msg)
        self._last_page_ids = ids

    def _continues_coverage(self, page: Page, keys: list[str]) -> bool:
        """Whether the page, read now, joins on to what was emitted so far."""
        if self._cursor is None or page.number == 1:
            return True
        if self._overlaps(page.records, keys):
            return True
        # No overlap: the record after the cursor is on this page only if it
        # cannot have moved up since the cursor's page was read. New enrollments
        # only appear at the front, so it moves up only when the total falls
        # below the anchor's (every answer between the anchor and the cursor's
        # page reported the anchor's total and joined without overlap).
        return page.number == self._cursor_page + 1 and page.total >= self._anchor_total

    def _overlaps(self, records: list[Record], keys: list[str]) -> bool:
        cursor = self._cursor
        assert cursor is not None  # noqa: S101 - callers check
        return any(
            key > cursor or (key == cursor and record.get("id") in self._ids_at_cursor)
            for record, key in zip(records, keys, strict=True)
        )

    def _take_new(self, records: list[Record], keys: list[str]) -> list[Record]:
        new_records: list[Record] = []
        for record, key in zip(records, keys, strict=True):
            record_id = record.get("id")
            if self._cursor is None or key < self._cursor:
                self._cursor = key
                self._ids_at_cursor = {record_id}
            elif key == self._cursor and record_id not in self._ids_at_cursor:
                self._ids_at_cursor.add(record_id)
            else:
                continue  # emitted already: pushed down by enrollments created since
            new_records.append(record)
        return new_records
