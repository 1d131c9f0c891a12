"""A FULL_TABLE copy and an incremental sync at once, into the real PostgreSQL.

Two schedules, or a manual run, can load one table at the same time. Every
record carries its sync's table version (its start), and target-postgres retires
the rows of versions below the one ACTIVATE_VERSION names. An incremental sync
that started before the copy, and whose rows land after the copy's but before its
ACTIVATE_VERSION, leaves its rows with the older version: activating the copy's
own version would delete them (the issue saw 26 of 50 freshly changed rows go).
The tap activates the copy's version less ``activate_version_grace_hours``.

Each test here runs both syncs for real: each tap reads the same data through a
sandbox server of its own, which holds its request for page 6 until the test
lets it go, so both walks are half-way when the data changes; each tap's output
goes through the test to a target-postgres of its own. The test decides when the
incremental target commits (it closes its input) and when the copy's target gets
the ACTIVATE_VERSION (held back until then), and waits for each to happen (a
process that ends, the target's line for a committed batch). Then it counts the
rows: after both, after the next incremental sync, and after a copy that starts
once the grace has passed.

Versions follow a virtual clock (``started_at``, see ``tests/tap_started_at.py``):
the first sync starts an hour after the first load, the second a minute later.
"""

from __future__ import annotations

import contextlib
import threading
import typing as t
from dataclasses import dataclass, field

import pytest
from reviewrover_sandbox import SandboxServer

from tests.conftest import PAGE_SIZE, TOKEN, tap_config
from tests.meltano_project import api_rows, postgres_rows
from tests.postgres_pipes import TIMEOUT_SECONDS, Warehouse
from tests.test_full_table import full_table_catalog

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import psycopg
    from reviewrover_sandbox import EnrollmentStore

    from tests.meltano_project import Row
    from tests.postgres_pipes import TapRun, Target

pytestmark = pytest.mark.e2e

#: The first load (2026-01-01T00:00:00Z); the overlapping syncs start an hour on.
T0 = 1_767_225_600
HOUR = 3600
GRACE_HOURS = 6
#: Each walk is held here, half-way through the default sandbox's 10 pages.
HELD_PAGE = 6
LIVE = "_sdc_deleted_at is null"


class HeldApi:
    """A sandbox server over the shared data, holding one page until released."""

    def __init__(self, store: EnrollmentStore) -> None:
        """Serve ``store``; the request for :data:`HELD_PAGE` waits for release."""
        self.server = SandboxServer(store, token=TOKEN).start()
        self.reached, self.released = threading.Event(), threading.Event()
        self.server.on_list_request(self._hold)

    def _hold(self, page: int, _: int) -> None:
        if page == HELD_PAGE and not self.released.is_set():
            self.reached.set()
            self.released.wait(TIMEOUT_SECONDS)

    def wait_until_held(self) -> None:
        """Wait until the tap has asked for the held page."""
        assert self.reached.wait(TIMEOUT_SECONDS), f"no request for page {HELD_PAGE}"

    def close(self) -> None:
        """Release any held request and stop serving."""
        self.released.set()
        self.server.stop()


@dataclass
class Sync:
    """One of the two syncs: its API, its tap and its target."""

    api: HeldApi
    tap: TapRun
    target: Target


@dataclass
class Overlap:
    """A FULL_TABLE copy and an incremental sync of the same table, at once.

    Attributes:
        sandbox: The API both read (through servers of their own).
        warehouse: The table both load.
        grace_hours: The copy's ``activate_version_grace_hours``.
        deleted: Every enrollment deleted in the API during the test.
        created_late: Enrollments created once both walks were past page 1:
            neither sync reads them, the next one does.
        syncs: The two syncs, ``incremental`` and ``copy``, once started.
    """

    sandbox: SandboxServer
    warehouse: Warehouse
    grace_hours: float
    deleted: set[int] = field(default_factory=set)
    created_late: set[int] = field(default_factory=set)
    syncs: dict[str, Sync] = field(default_factory=dict)

    def first_load(self) -> dict[str, t.Any]:
        """The incremental load before it all; returns its state."""
        load = self.warehouse.load(tap_config(self.sandbox), started_at=T0)
        assert load.target_returncode == 0
        assert self.warehouse.ids() == set(self.sandbox.store.ids_in_api_order())
        return load.tap.states[-1]

    def start(self, name: str, started_at: int, state: dict[str, t.Any]) -> None:
        """Start the incremental sync or the copy; it stops at the held page."""
        api = HeldApi(self.sandbox.store)
        # One page at a time, and no retry of the held request however long it takes.
        config = tap_config(
            api.server,
            max_concurrent_requests=1,
            request_timeout=600,
            activate_version_grace_hours=self.grace_hours,
        )
        if name == "copy":
            # The copy's target commits a page at a time; its ACTIVATE_VERSION waits.
            target = self.warehouse.target(batch_size_rows=PAGE_SIZE)
            tap = self.warehouse.tap(
                config,
                catalog=full_table_catalog(config),
                started_at=started_at,
                target=target,
                hold_activation=True,
            )
        else:
            # The incremental target commits once, when its input ends.
            target = self.warehouse.target()
            tap = self.warehouse.tap(
                config, state=state, started_at=started_at, target=target
            )
        self.syncs[name] = Sync(api, tap.start(), target)
        api.wait_until_held()

    def resume(self, name: str) -> None:
        """Let a sync's walk go on to the end; its records go to its target."""
        sync = self.syncs[name]
        sync.api.released.set()
        assert sync.tap.wait() == 0, sync.tap.stderr[-3000:]

    def commit_incremental(self) -> None:
        """The incremental target loads what it got (its input ends)."""
        self.syncs["incremental"].target.check()

    def commit_copy(self) -> None:
        """Wait until the copy's target has committed every whole batch.

        The rest (fewer than a batch) is committed when ACTIVATE_VERSION
        arrives, just before the rows of older versions are retired.
        """
        copy = self.syncs["copy"]
        copy.target.wait_for_commits(len(copy.tap.records) // PAGE_SIZE)

    def activate_copy(self) -> None:
        """The copy's target gets the ACTIVATE_VERSION, and ends."""
        copy = self.syncs["copy"]
        assert [m["type"] for m in copy.tap.held] == ["ACTIVATE_VERSION", "STATE"]
        copy.tap.release()
        copy.target.check()

    def change(
        self, *, updates: list[int], deletes: list[int], creates: int, late: bool
    ) -> None:
        """Change the API's data: positions in the list, newest created first.

        Args:
            updates: Enrollments whose ``completed`` flips.
            deletes: Enrollments deleted.
            creates: How many enrollments to create (on page 1).
            late: Whether both walks are past page 1.
        """
        store = self.sandbox.store
        order = store.ids_in_api_order()
        for position in updates:
            record = store.get(order[position])
            assert record is not None
            store.update(record["id"], completed=not record["completed"])
        for position in deletes:
            self.deleted.add(store.delete(order[position])["id"])
        for number in range(creates):
            created = store.create("camp_overlap", f"cont_{order[0]}_{number}")
            if late:
                self.created_late.add(created["id"])

    def close(self) -> None:
        """Release every held request, stop the servers, end what still runs."""
        for sync in self.syncs.values():
            sync.api.close()
            sync.tap.kill()
            sync.target.kill()


@pytest.fixture
def warehouse(
    tmp_path: Path, schema: str, postgres: psycopg.Connection[Row]
) -> Iterator[Warehouse]:
    """The test's schema, loaded by target-postgres."""
    warehouse = Warehouse(tmp_path, schema, postgres)
    yield warehouse
    warehouse.close()


@contextlib.contextmanager
def overlap(
    sandbox: SandboxServer, warehouse: Warehouse, grace_hours: float
) -> Iterator[Overlap]:
    """An :class:`Overlap`, whose servers and processes end with the test."""
    run = Overlap(sandbox, warehouse, grace_hours)
    try:
        yield run
    finally:
        run.close()


#: When the incremental target commits, relative to the copy's rows and its
#: ACTIVATE_VERSION: the steps once both walks are half-way, in order.
LANDINGS = {
    "before-the-copy": (
        "resume incremental",
        "commit incremental",
        "change",
        "resume copy",
        "commit copy",
        "activate copy",
    ),
    "between-the-copy-and-its-activation": (
        "resume copy",
        "commit copy",
        "change",
        "resume incremental",
        "commit incremental",
        "activate copy",
    ),
    "after-the-activation": (
        "resume copy",
        "commit copy",
        "activate copy",
        "change",
        "resume incremental",
        "commit incremental",
    ),
}


def run_both(run: Overlap, *, first: str, landing: str) -> dict[str, t.Any]:
    """Run the two syncs at once, in the order given (see the module doc).

    Args:
        run: The overlap.
        first: The sync that starts first: ``incremental`` or ``copy``.
        landing: A key of :data:`LANDINGS`.

    Returns:
        The incremental sync's final state.
    """
    state = run.first_load()
    second = "copy" if first == "incremental" else "incremental"
    run.start(first, T0 + HOUR, state)
    # The first walk has read pages 1-5; the second has not started.
    run.change(updates=[12, 31, 52, 62, 83], deletes=[22, 71], creates=2, late=False)
    run.start(second, T0 + HOUR + 60, state)
    # Both walks are half-way.
    run.change(updates=[3, 31, 64, 90], deletes=[35, 60], creates=1, late=True)
    for step in LANDINGS[landing]:
        if step == "change":
            run.change(updates=[14, 40, 77], deletes=[44], creates=1, late=True)
        elif step.startswith("resume"):
            run.resume(step.split()[1])
        elif step == "commit incremental":
            run.commit_incremental()
        elif step == "commit copy":
            run.commit_copy()
        else:
            run.activate_copy()
    return run.syncs["incremental"].tap.states[-1]


def missing_live_rows(run: Overlap) -> set[int]:
    """Enrollments the API has and a sync read, that the table lacks (or marks)."""
    expected = set(run.sandbox.store.ids_in_api_order()) - run.created_late
    return expected - run.warehouse.ids(LIVE)


def after_next_incremental(run: Overlap, state: dict[str, t.Any]) -> None:
    """Run the next incremental sync: every live row is then in the table, fresh."""
    api = set(run.sandbox.store.ids_in_api_order())
    load = run.warehouse.load(
        tap_config(run.sandbox), state=state, started_at=T0 + HOUR + 120
    )
    assert load.target_returncode == 0
    assert run.warehouse.ids(LIVE) >= api
    rows = postgres_rows(run.warehouse.connection, run.warehouse.schema, LIVE)
    assert [row for row in rows if row[0] in api] == api_rows(run.sandbox.store)


#: Which sync starts first, and when the incremental rows land, with hard
#: deletes; and the one order that needs the grace with soft deletes too.
CASES = [
    *(
        (first, landing, True)
        for first in ("incremental", "copy")
        for landing in LANDINGS
    ),
    ("incremental", "between-the-copy-and-its-activation", False),
]


@pytest.mark.parametrize(
    ("first", "landing", "hard_delete"),
    CASES,
    ids=[
        f"{f}-first-lands-{landing}-{'hard' if h else 'soft'}"
        for f, landing, h in CASES
    ],
)
def test_no_live_row_is_lost_whichever_sync_starts_and_lands_first(
    sandbox: SandboxServer,
    warehouse: Warehouse,
    first: str,
    landing: str,
    hard_delete: bool,  # noqa: FBT001
) -> None:
    warehouse.settings["hard_delete"] = hard_delete
    with overlap(sandbox, warehouse, GRACE_HOURS) as run:
        incremental_state = run_both(run, first=first, landing=landing)
    api = set(sandbox.store.ids_in_api_order())

    assert missing_live_rows(run) == set()
    assert warehouse.ids() - api <= run.deleted

    # The next incremental sync brings every change, and what was created late.
    after_next_incremental(run, incremental_state)

    # A copy once the grace has passed since the last load of every deleted row.
    config = tap_config(sandbox)
    later = warehouse.load(
        config, catalog=full_table_catalog(config), started_at=T0 + 8 * HOUR
    )
    assert later.target_returncode == 0
    assert later.tap.activations
    assert postgres_rows(warehouse.connection, warehouse.schema, LIVE) == api_rows(
        sandbox.store
    )
    if hard_delete:
        assert warehouse.ids() == api
    else:
        assert warehouse.ids() - api <= run.deleted  # marked in _sdc_deleted_at


@pytest.mark.parametrize("hard_delete", [True, False], ids=["hard", "soft"])
def test_without_the_grace_the_same_overlap_loses_the_incremental_rows(
    sandbox: SandboxServer,
    warehouse: Warehouse,
    hard_delete: bool,  # noqa: FBT001
) -> None:
    # The incremental sync starts a minute before the copy; its rows land after
    # the copy's, before the copy's ACTIVATE_VERSION: its older version retires them.
    warehouse.settings["hard_delete"] = hard_delete
    with overlap(sandbox, warehouse, 0) as run:
        incremental_state = run_both(
            run, first="incremental", landing="between-the-copy-and-its-activation"
        )
    loaded = {record["id"] for record in run.syncs["incremental"].tap.records}

    missing = missing_live_rows(run)
    assert missing, "no row was lost: the test no longer shows what the grace is for"
    assert missing <= loaded
    if not hard_delete:
        assert missing <= warehouse.ids(), "soft deletes only mark rows"
    # These changes are recent: the next incremental sync reads them again.
    after_next_incremental(run, incremental_state)
