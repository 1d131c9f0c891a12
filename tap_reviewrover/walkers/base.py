"""What every walk strategy is: pages in, checked records out, and a result.

A walker reads one partition of a list through a ``fetch`` callable (the
requester's, bound to the partition) and yields the records it takes, a page at
a time, with the answer they came in. Once it is exhausted, :attr:`Walker.result`
says whether the walk was whole and what it cost. The stream (an SDK adapter)
decides what to emit, writes it, and moves the bookmark from the result; a new
strategy is one new module here.
"""

from __future__ import annotations

import abc
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    import logging
    import threading
    from collections.abc import Callable, Iterator, Mapping

    from tap_reviewrover.pages import FetchedPage, PageKey

#: Reads one page of the partition: ``fetch(key, cancelled)``.
Fetch = t.Callable[["PageKey", "threading.Event"], "FetchedPage"]
#: Reads one record by id: ``retrieve(id, cancelled)``; a page of no record when
#: the API has none (404).
Retrieve = t.Callable[[int, "threading.Event"], "FetchedPage"]


@dataclass(frozen=True)
class WalkPlan:
    """Everything a walker may use; a strategy takes what it needs.

    Attributes:
        fetch: Reads a page of the partition's list.
        filtered: Gives the ``fetch`` of the partition's list with more filters
            (the API's own, such as ``{"completed": "false"}``).
        retrieve: Reads one record by id (``GET {list}/{id}``).
        page_size: The page size to ask for.
        workers: Requests in flight at most.
        keys: The records' id, creation and replication fields.
        partition: The partition's filters (each record must match them).
        names: The stream's name and the list's URL, for messages.
        logger: Where the walk's lines go.
        state: The partition's state (the SDK's writable dict): a strategy
            keeps what it needs between syncs under its own key.
        settings: The tap's settings.
        interrupt: Cuts the requests in flight (the walk ended).
    """

    fetch: Fetch
    filtered: Callable[[Mapping[str, str]], Fetch]
    retrieve: Retrieve
    page_size: int
    workers: int
    keys: tuple[str, str, str]
    partition: Mapping[str, t.Any] | None
    names: tuple[str, str]
    logger: logging.Logger
    state: dict[str, t.Any] = field(default_factory=dict)
    settings: Mapping[str, t.Any] = field(default_factory=dict)
    interrupt: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True)
class TakenPage:
    """The records a walk took from one answer.

    Attributes:
        records: The records not taken before in this walk, in API order.
        fetched: The answer they came in.
        kept: Those of ``records`` to emit even if they were not updated
            within the bookmark's window: the walk knows they changed.
    """

    records: list[t.Any]
    fetched: FetchedPage
    kept: list[t.Any] = field(default_factory=list)


@dataclass
class WalkResult:
    """What a finished walk did.

    Attributes:
        whole: Every record present for the whole walk was taken (the walk
            ended without an error).
        records: Distinct records taken.
        total: The list's size as its last answer said.
        pages: Answers taken, re-reads included.
        drift_rereads: Pages read again because the list changed meanwhile.
        inconsistent_rereads: Pages read again because an answer did not add up.
        notes: Lines for the log about what the walk met (info level).
        counts: What a strategy's own parts did, for the summary line: each
            phrase with its count, such as ``{"pages of open ones": 50}``.
    """

    whole: bool = False
    records: int = 0
    total: int = 0
    pages: int = 0
    drift_rereads: int = 0
    inconsistent_rereads: int = 0
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class Walker(abc.ABC):
    """A walk strategy over a list (see the module doc).

    Attributes:
        plan: What the walk may use.
        result: What the walk did; complete once :meth:`pages` is exhausted.
    """

    def __init__(self, plan: WalkPlan) -> None:
        """Prepare the walk; nothing is read yet.

        Args:
            plan: What the walk may use.
        """
        self.plan = plan
        self.result = WalkResult()

    @abc.abstractmethod
    def pages(self, on_first: Callable[[FetchedPage], None]) -> Iterator[TakenPage]:
        """Walk the list.

        Args:
            on_first: Called with the walk's first answer before anything is
                taken from it (the API's clock then settles the bookmark rules).

        Yields:
            The records taken from each answer, in the order to emit them.
        """

    def finish(self) -> None:  # noqa: B027 - most strategies keep nothing
        """The walk was whole and its records are written: keep what the next needs.

        Called once, after the bookmark moved and before the final STATE; the
        state a strategy keeps (in :attr:`WalkPlan.state`) changes only here,
        so that a sync stopped part-way leaves the previous sync's.
        """

    @abc.abstractmethod
    def post(self, notice: Callable[[], None]) -> None:
        """Have ``notice`` run in the walking thread, between two answers.

        Thread-safe: the requester calls it from a worker thread (to have what
        was read written out before a long wait).

        Args:
            notice: What to run.
        """


@dataclass
class Tally:
    """What the walks of one sync did, added up, for its summary line.

    Attributes:
        pages: Answers taken, re-reads included.
        drift_rereads: Pages read again because the list changed meanwhile.
        inconsistent_rereads: Pages read again because an answer did not add up.
        counts: The strategies' own counts, by phrase (see ``WalkResult``).
    """

    pages: int = 0
    drift_rereads: int = 0
    inconsistent_rereads: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, result: WalkResult) -> None:
        """Add a finished (or failed) walk.

        Args:
            result: What it did.
        """
        self.pages += result.pages
        self.drift_rereads += result.drift_rereads
        self.inconsistent_rereads += result.inconsistent_rereads
        for phrase, count in result.counts.items():
            self.counts[phrase] = self.counts.get(phrase, 0) + count

    def summary(self, stream: str, records: int, retries: int, seconds: float) -> str:
        """The sync's summary line.

        Args:
            stream: The stream's name.
            records: Records emitted.
            retries: Requests retried.
            seconds: How long the sync took.

        Returns:
            The line.
        """
        counts = "".join(f", {n} {phrase}" for phrase, n in self.counts.items())
        return (
            f"Sync of '{stream}' done: {records} records emitted, {self.pages} pages "
            f"read, {retries} retries, {self.drift_rereads} drift re-reads, "
            f"{self.inconsistent_rereads} inconsistent pages re-read{counts}, "
            f"{seconds:.2f} s."
        )
