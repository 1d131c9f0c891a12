"""An account in use, for the tests of ``incremental_strategy: open_enrollments``.

An :class:`Account` is a sandbox with a chosen share of open enrollments, on a
clock the test moves: the first sync runs half an hour "ago", the activity
twenty minutes ago, the next sync ten minutes ago, so that each sync's window
(``lookback_seconds: 0``) holds exactly the changes since the one before. It
counts the requests of each walk at the sandbox.
"""

from __future__ import annotations

import random
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from reviewrover_sandbox import (
    Activity,
    Clock,
    EnrollmentStore,
    SandboxServer,
    simulate,
)

from tap_reviewrover.id_sets import decode_ids
from tap_reviewrover.open_state import STATE_KEY
from tests.conftest import TOKEN, sync, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from reviewrover_sandbox import ActivityLog

    from tests.conftest import SyncOutput

#: The settings of the narrow walk in these tests.
NARROW = {"incremental_strategy": "open_enrollments", "lookback_seconds": 0}
#: Minutes before now of each step of a test: a sync, activity, the next sync...
MINUTE = 60
#: The page size of the sync a test starts from (``Account.first_sync``): the
#: most the API serves.
SETUP_PAGE_SIZE = 100
#: A varied hour, scaled to 2,000 enrollments with 100 open.
SMALL_HOUR = Activity(
    creates=15,
    created_completed=3,
    updates=10,
    completions=8,
    reopens=2,
    completed_edits=4,
    open_deletes=2,
    completed_deletes=2,
)


@dataclass
class Account:
    """A sandbox in use: seeded, changed, synced, its requests counted."""

    sandbox: SandboxServer
    seed: int = 1
    logs: list[ActivityLog] = field(default_factory=list)
    #: The last sync's requests by walk, every one (pages read again included).
    raw_requests: Counter[str] = field(default_factory=Counter)

    @property
    def clock(self) -> Clock:
        """The API's clock, which stamps the data too."""
        return self.sandbox.clock

    def at(self, minutes_ago: float) -> None:
        """Move the API's clock (and the data's) to this many minutes ago."""
        self.clock.offset_seconds = -minutes_ago * MINUTE

    def use(self, activity: Activity = SMALL_HOUR) -> ActivityLog:
        """Make an hour of changes, drawn from the account's seed."""
        rng = random.Random(self.seed + len(self.logs))  # noqa: S311 - test data
        log = simulate(self.sandbox.store, activity, rng)
        self.logs.append(log)
        return log

    def config(self, **settings: t.Any) -> dict[str, t.Any]:
        """The tap's settings: the narrow walk's, and ``settings``."""
        return tap_config(self.sandbox, **{**NARROW, **settings})

    def sync(
        self,
        state: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | None = None,
        **settings: t.Any,
    ) -> tuple[SyncOutput, Counter[str]]:
        """One sync in this process; what it wrote and its requests by walk."""
        before = len(self.sandbox.requests)
        config = self.config(**settings)
        output = sync(config, state=state, catalog=catalog)
        self.raw_requests = walks(self.sandbox, before)
        return output, walks(self.sandbox, before, page_size=config["page_size"])

    def first_sync(self, **settings: t.Any) -> SyncOutput:
        """The sync a test starts from: every page, for the state it leaves.

        It reads pages of ``SETUP_PAGE_SIZE``, not the test's 10: what a test
        uses of it is its state (and its records), which are the same at any
        page size, as
        ``test_a_walk_of_every_page_leaves_the_same_state_at_any_page_size``
        checks; at 10 a page it cost most of each test's time. The tests of
        the first sync itself use ``sync``.
        """
        output, _ = self.sync(**{**settings, "page_size": SETUP_PAGE_SIZE})
        return output

    def open_ids(self) -> list[int]:
        """The ids of the open enrollments now, ascending."""
        records = self.sandbox.store.all_records()
        return sorted(r["id"] for r in records if not r["completed"])


def walks(
    sandbox: SandboxServer, since: int = 0, *, page_size: int | None = None
) -> Counter[str]:
    """The requests answered since the ``since``-th, by walk: what a walk costs.

    ``list``: pages of the whole list (walk (a), or every page); ``open``:
    pages of ``completed=false`` (walk (b)); ``one``: enrollments read by id.
    With ``page_size``, each page is counted once, and reads of another size
    are left out: the page walk reads a group of records created in the same
    second whole when a page edge splits it, and fetches pages read ahead again
    around one (see ``paging.py``). Those cost the same in every strategy, and
    the data has such groups; the walk's own tests count them.
    """
    counted: Counter[str] = Counter()
    seen: set[tuple[str, str | None, str | None]] = set()
    for request in sandbox.requests[since:]:
        if request.path.rstrip("/").endswith("/v1/enrollments"):
            kind = "open" if request.query.get("completed") else "list"
            if page_size is not None:
                page = (kind, request.query.get("page"), request.query.get("limit"))
                if page[2] != str(page_size) or page in seen:
                    continue
                seen.add(page)
            counted[kind] += 1
        else:
            counted["one"] += 1
    return counted


def kept_open_ids(output: SyncOutput, partition: int | None = None) -> list[int]:
    """The open ids the final state keeps (of one partition, or the stream)."""
    bookmark = output.final_state["bookmarks"]["enrollments"]
    if partition is not None:
        bookmark = bookmark["partitions"][partition]
    data = bookmark[STATE_KEY]
    return list(decode_ids(data["open_ids"], most=10**7))


def account_of(count: int, open_share: float, *, seed: int = 1) -> Iterator[Account]:
    """A started account (use in a fixture), its clock at real time."""
    store = EnrollmentStore.seeded(
        count, completed_share=1 - open_share, seed=seed, clock=Clock()
    )
    with SandboxServer(store, token=TOKEN) as server:
        yield Account(server, seed=seed)


def summary_of(text: str) -> str:
    """The last summary line in a log."""
    lines = [line for line in text.splitlines() if "Sync of 'enrollments' done" in line]
    assert lines, "no summary line"
    return lines[-1]
