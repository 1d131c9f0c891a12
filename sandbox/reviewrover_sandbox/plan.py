"""The sandbox's plan of misbehaviour: queued faults and server-wide quirks.

A test queues faults (see `faults.py`) before or while a sync runs::

    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "2"}), times=2)
    sandbox.faults.add(Fault.drop(), page=3)
    sandbox.faults.add(Fault.date(76 * 365 * 86_400), times=None)  # until clear()
    sandbox.faults.add(Fault.short(3), page=2, path="reviews")
    sandbox.faults.latency_seconds = 0.05  # every request, until reset
    sandbox.faults.limit_cap = 50  # pages of at most 50 records, until reset
    sandbox.faults.tie_shuffle_seed = 7  # ties in a new order on every request
    sandbox.faults.ignore_campaign_filter = True  # every campaign's records

Each queued fault answers the next `times` list requests whose `page` matches
(any page when `page` is None) on its list (any list when `path` is None), then
it is used up; with `times=None` it answers every matching request until
`clear()`. When several queued faults match a request, the first queued with a
count answers it, else the first queued persistent one: a counted fault
interrupts a persistent lie for its requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

if TYPE_CHECKING:
    from reviewrover_sandbox.faults import Fault

ListName = Literal["enrollments", "reviews"]
"""The lists the sandbox serves, by the last part of their path."""
LIST_NAMES: tuple[ListName, ...] = get_args(ListName)
RetrievePath = Literal["enrollment"]
"""`GET /v1/enrollments/{id}`: faults for it are queued with this path, and
their `page` is the enrollment's id. Only faults queued for it answer it."""
RETRIEVE_PATH: RetrievePath = "enrollment"

LimitCapMode = Literal["declared", "silent", "silent_gaps"]
"""How a server-wide page-size cap shows; see `FaultPlan.limit_cap`."""
LIMIT_CAP_MODES: tuple[LimitCapMode, ...] = get_args(LimitCapMode)


class PageWindow(NamedTuple):
    """Which records a list request gets, and the page size it is told."""

    offset: int
    """How many records of the listing come before the page's first."""
    size: int
    """How many records the page holds at most."""
    reported_limit: int
    """The `pagination.limit` of the answer; `total_pages` is derived from it."""


def page_window(
    page: int, limit: int, cap: int | None, mode: LimitCapMode
) -> PageWindow:
    """Decide a page's records under a server-wide page-size cap.

    With a cap C and a requested limit L > C: "declared" serves pages of C and
    says so; "silent" serves pages of C (offsets in steps of C) but reports L;
    "silent_gaps" steps offsets by L but serves only C records a page, so
    records between pages are never served, and reports L.

    Args:
        page: The requested page, from 1.
        limit: The requested page size.
        cap: The cap; None for none.
        mode: How the cap shows.

    Returns:
        The window.
    """
    if cap is None or limit <= cap:
        return PageWindow((page - 1) * limit, limit, limit)
    if mode == "declared":
        return PageWindow((page - 1) * cap, cap, cap)
    if mode == "silent":
        return PageWindow((page - 1) * cap, cap, limit)
    return PageWindow((page - 1) * limit, cap, limit)


@dataclass
class _Scheduled:
    fault: Fault
    remaining: int | None  # None: every matching request, until clear()
    page: int | None
    path: ListName | RetrievePath | None

    def matches(self, page: int, path: ListName | RetrievePath) -> bool:
        if RETRIEVE_PATH in {path, self.path}:  # never a fault for "any list"
            return self.path == path and self.page in {None, page}
        return self.page in {None, page} and self.path in {None, path}


class FaultPlan:
    """Thread-safe queue of faults for the list endpoints, plus server-wide quirks.

    Attributes:
        latency_seconds: Delay added to every request (any endpoint); 0 for none.
        ignore_campaign_filter: Answer enrollment lists as if no `campaign_id`
            was asked for: every campaign's records (other filters still
            apply). False by default.
    """

    def __init__(self) -> None:
        """Create an empty plan."""
        self.latency_seconds = 0.0
        self.ignore_campaign_filter = False
        self._tie_shuffle_seed: int | None = None
        self._tie_orders_drawn = 0
        self._limit_cap: int | None = None
        self._limit_cap_mode: LimitCapMode = "declared"
        self._lock = threading.Lock()
        self._queue: list[_Scheduled] = []

    @property
    def limit_cap(self) -> int | None:
        """The most records any page holds, whatever `limit` asks; None: no cap.

        A request with `limit` at or under the cap is served normally; above
        it, `limit_cap_mode` decides what is served and said.
        """
        return self._limit_cap

    @limit_cap.setter
    def limit_cap(self, cap: int | None) -> None:
        if cap is not None and cap < 1:
            msg = "limit_cap must be at least 1, or None"
            raise ValueError(msg)
        self._limit_cap = cap

    @property
    def limit_cap_mode(self) -> LimitCapMode:
        """How the cap shows: "declared", "silent" or "silent_gaps".

        See `page_window`; "declared" by default.
        """
        return self._limit_cap_mode

    @limit_cap_mode.setter
    def limit_cap_mode(self, mode: LimitCapMode) -> None:
        if mode not in LIMIT_CAP_MODES:
            msg = f"limit_cap_mode must be one of {LIMIT_CAP_MODES}"
            raise ValueError(msg)
        self._limit_cap_mode = mode

    @property
    def tie_shuffle_seed(self) -> int | None:
        """Order ties at random, afresh on every list request; None (default): don't.

        With a seed, records created in the same second come in a new random
        order on each list request, as from an API that sorts on creation time
        alone and pages with an offset: a tie group across a page edge can show
        a record on both pages and another on neither. The orders follow from
        the seed and the number of list requests since it was set.
        """
        return self._tie_shuffle_seed

    @tie_shuffle_seed.setter
    def tie_shuffle_seed(self, seed: int | None) -> None:
        with self._lock:
            self._tie_shuffle_seed = seed
            self._tie_orders_drawn = 0

    def tie_order(self) -> random.Random | None:
        """Draw the order of ties for one list request (the server calls this).

        Returns:
            A generator seeded from `tie_shuffle_seed` and the request's
            number, or None when ties keep their order.
        """
        with self._lock:
            if self._tie_shuffle_seed is None:
                return None
            self._tie_orders_drawn += 1
            seed = f"{self._tie_shuffle_seed}:{self._tie_orders_drawn}"
        return random.Random(seed)  # noqa: S311 - test data, not security

    def window(self, page: int, limit: int) -> PageWindow:
        """Decide a page's records under the current cap.

        Args:
            page: The page, from 1.
            limit: The requested page size.

        Returns:
            The window.
        """
        return page_window(page, limit, self._limit_cap, self._limit_cap_mode)

    def add(
        self,
        fault: Fault,
        *,
        times: int | None = 1,
        page: int | None = None,
        path: ListName | RetrievePath | None = None,
    ) -> None:
        """Queue a fault for the next `times` matching list requests.

        Args:
            fault: What goes wrong.
            times: How many matching requests it answers; None for every one
                until `clear()`.
            page: Only requests for this page number match; None: any page.
                With `path="enrollment"`: the id of the enrollment.
            path: Only requests of this list ("enrollments" or "reviews")
                match; None: any list. "enrollment": requests for one
                enrollment (`GET /v1/enrollments/{id}`), which no other
                fault answers.

        Raises:
            ValueError: `times` is less than 1, or `path` is not a list.
        """
        if times is not None and times < 1:
            msg = "times must be at least 1, or None"
            raise ValueError(msg)
        if path is not None and path not in (*LIST_NAMES, RETRIEVE_PATH):
            msg = f"path must be one of {(*LIST_NAMES, RETRIEVE_PATH)}, or None"
            raise ValueError(msg)
        with self._lock:
            self._queue.append(_Scheduled(fault, times, page, path))

    def take(
        self, page: int, path: ListName | RetrievePath = "enrollments"
    ) -> Fault | None:
        """Use up one match of the fault that answers a request.

        The server calls this once per list request, and once per request for
        one enrollment (`path="enrollment"`, `page` its id).

        Args:
            page: The requested page number (or enrollment id).
            path: The list requested, or "enrollment".

        Returns:
            The fault to apply, or None to answer normally.
        """
        with self._lock:
            matching = [s for s in self._queue if s.matches(page, path)]
            counted = [s for s in matching if s.remaining is not None]
            if not matching:
                return None
            chosen = (counted or matching)[0]
            if chosen.remaining is not None:
                chosen.remaining -= 1
                if chosen.remaining == 0:
                    self._queue.remove(chosen)
            return chosen.fault

    def pending(self) -> int:
        """Return how many faulty responses are still queued (over counted faults).

        Persistent faults (`times=None`) are not counted.
        """
        with self._lock:
            return sum(s.remaining for s in self._queue if s.remaining is not None)

    def clear(self) -> None:
        """Drop all queued faults; reset the latency and every quirk to the default."""
        with self._lock:
            self._queue.clear()
            self.latency_seconds = 0.0
            self.ignore_campaign_filter = False
            self._tie_shuffle_seed = None
            self._limit_cap = None
            self._limit_cap_mode = "declared"
