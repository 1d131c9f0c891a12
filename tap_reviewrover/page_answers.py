"""One list answer, and the checks it must pass on its own, before any walk uses it.

One response is a snapshot of the list at one moment, so whatever the list does
meanwhile, its page must hold exactly what its own ``total`` and ``limit`` say,
its ``total_pages`` must follow from them, its records must be newest-created
first, and no record may be on it twice (a page of 10 that holds an id twice
lacks a record that its ``total`` counts). :func:`answer_problem` names the first
check an answer fails. Nothing here does I/O.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

R = t.TypeVar("R")

#: The largest page size the API serves (its ``limit`` is 1-100).
MAX_PAGE_SIZE = 100

#: A request for a page of the list: ``(number, limit)``, as the API's ``page``
#: and ``limit`` parameters.
PageKey = tuple[int, int]


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
        updated: Each record's replication-key value as an integer that orders
            like it (the stream sends microseconds since the Unix epoch), in the
            same order; None when the stream has none. Of two copies of one id,
            the walk emits the second only if it is newer.
        updated_seconds: The same versions in whole seconds since the epoch, when
            every one is a whole second (the usual page), so that they are kept
            without dividing each again; None otherwise.
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
    updated: t.Sequence[int] | None = None
    updated_seconds: t.Sequence[int] | None = None

    @property
    def key(self) -> PageKey:
        """The request this page answers: ``(number, limit)``."""
        return (self.number, self.limit)

    @property
    def first_position(self) -> int:
        """The place in the list (from 0) of the page's first record."""
        return (self.number - 1) * self.limit

    @property
    def reaches_the_end(self) -> bool:
        """Whether the page's last place is the list's last, as it reports."""
        return self.first_position + len(self.records) >= self.total


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


def answer_problem(page: Page[t.Any], limit: int | None = None) -> str | None:
    """What, if anything, makes this answer impossible as a snapshot of the list.

    Args:
        page: The response, with the page and page size it was asked for.
        limit: The page size it must have, if not the one asked for (a page 1
            whose answer showed a smaller cap is checked against the cap).

    Returns:
        The failed check, in words; None when the answer adds up.
    """
    number, count = page.number, len(page.records)
    limit = page.limit if limit is None else limit
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
    return _order_problem(page) or _repeated_id_problem(page)


def _order_problem(page: Page[t.Any]) -> str | None:
    created, ids = page.created, page.ids
    for position in range(1, len(created)):
        if created[position] > created[position - 1]:
            return (
                f"page {page.number} lists record {ids[position]!r} (created "
                f"{created[position]}) after a newer one; the API must list "
                "newest-created first for a safe sync"
            )
    return None


def _repeated_id_problem(page: Page[t.Any]) -> str | None:
    # A snapshot lists each record once: an id twice on one page takes the place
    # of a record the total counts, which no later page would serve.
    if len(set(page.ids)) == len(page.ids):
        return None
    seen: set[object] = set()
    for record_id in page.ids:
        if record_id in seen:
            return (
                f"page {page.number} lists record {record_id!r} twice: a record "
                "its total counts is missing from it"
            )
        seen.add(record_id)
    return None
