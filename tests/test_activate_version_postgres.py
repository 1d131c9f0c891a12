"""ACTIVATE_VERSION is a delete: the rules that keep it from one, in PostgreSQL.

Each test pipes the tap into the real target-postgres (meltano.yml's loader and
settings) and counts the rows left in the real PostgreSQL: a FULL_TABLE copy of
some campaigns, an empty answer, a copy that shrank; the last one runs `meltano`
itself, whose state backend must hand the last copy's size to the next copy.
Syncs that overlap are in ``test_overlapping_syncs.py``; the other ways to send
it wrongly in ``test_activate_version_attacks.py``.

Table versions follow a virtual clock (``started_at``: the sync's start, see
``tests/tap_started_at.py``), so that a copy can start a day after the last one
without waiting for it.
"""

from __future__ import annotations

import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore, SandboxServer, TieGroups

from tests.conftest import TOKEN, tap_config
from tests.meltano_project import api_rows, postgres_project, postgres_rows
from tests.postgres_pipes import Warehouse, table_ids
from tests.test_full_table import full_table_catalog

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import psycopg

    from tests.meltano_project import Row
    from tests.postgres_pipes import Load

#: They run target-postgres, as installed for Meltano (or `meltano`), into PostgreSQL.
pytestmark = pytest.mark.e2e

#: The first copy's start (2026-01-01T00:00:00Z); later syncs count from it.
T0 = 1_767_225_600
HOUR = 3600
DAY = 24 * HOUR
FULL_TABLE = ("tap-reviewrover-full-table", "target-postgres")


@pytest.fixture
def warehouse(
    tmp_path: Path, schema: str, postgres: psycopg.Connection[Row]
) -> Iterator[Warehouse]:
    """The test's schema, loaded by target-postgres."""
    warehouse = Warehouse(tmp_path, schema, postgres)
    yield warehouse
    warehouse.close()


def all_columns(warehouse: Warehouse) -> list[Row]:
    """Every column of every row, the _sdc_* ones included, ordered by id."""
    query = f"select * from {warehouse.schema}.enrollments order by id"  # noqa: S608 - own name
    return warehouse.connection.execute(query).fetchall()


def failed_with_one_line(load: Load, *fragments: str) -> str:
    """Check that the tap failed with one error line holding each fragment.

    Returns:
        The line.
    """
    assert load.tap.returncode == 1, load.tap.stderr[-3000:]
    assert "Traceback" not in load.tap.stderr
    (line,) = load.tap.error_lines
    for fragment in fragments:
        assert fragment in line, line
    return line


def message_types(load: Load) -> set[str]:
    """The kinds of message the tap wrote."""
    return {message["type"] for message in load.tap.messages}


def test_a_copy_of_some_campaigns_is_refused_and_no_row_is_touched(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    config = tap_config(sandbox)
    assert warehouse.load(config).target_returncode == 0
    before, requests = all_columns(warehouse), sandbox.list_request_count
    assert len(before) == len(sandbox.store)
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})[:2]
    for enrollment_id in sandbox.store.ids_in_api_order()[::10]:
        sandbox.store.delete(enrollment_id)  # what a copy would retire

    subset = tap_config(sandbox, campaign_ids=campaigns)
    copy = warehouse.load(subset, catalog=full_table_catalog(subset))

    failed_with_one_line(copy, "FULL_TABLE sync with campaign_ids", "every other")
    assert sandbox.list_request_count == requests, "it asked the API for a page"
    assert message_types(copy) <= {"SCHEMA", "STATE"}
    assert copy.target_returncode == 0
    assert all_columns(warehouse) == before


def test_with_versions_off_a_copy_of_some_campaigns_leaves_the_others_as_they_were(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    config = tap_config(sandbox)
    warehouse.load(config)
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})[:2]
    ours = {
        r["id"] for r in sandbox.store.all_records() if r["campaign_id"] in campaigns
    }
    theirs = set(sandbox.store.ids_in_api_order()) - ours
    before = {row[0]: row for row in all_columns(warehouse)}
    changed = [min(ours), min(theirs)]
    for enrollment_id in changed:
        sandbox.store.update(enrollment_id, completed=True)
    deleted = [max(ours), max(theirs)]
    for enrollment_id in deleted:
        sandbox.store.delete(enrollment_id)

    subset = tap_config(
        sandbox, campaign_ids=campaigns, emit_activate_version_messages=False
    )
    copy = warehouse.load(subset, catalog=full_table_catalog(subset))

    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    assert copy.target_returncode == 0
    assert "ACTIVATE_VERSION" not in message_types(copy)
    assert sorted(r["id"] for r in copy.tap.records) == sorted(ours - {max(ours)})
    after = {row[0]: row for row in all_columns(warehouse)}
    assert set(after) == set(before), "a row came or went"
    assert {i: after[i] for i in theirs} == {i: before[i] for i in theirs}
    copied = {
        row[0]: row for row in postgres_rows(warehouse.connection, warehouse.schema)
    }
    api = {row[0]: row for row in api_rows(sandbox.store)}
    assert {i: copied[i] for i in ours - {max(ours)}} == {
        i: api[i] for i in ours - {max(ours)}
    }


@pytest.mark.parametrize("hard_delete", [True, False], ids=["hard", "soft"])
def test_an_empty_answer_after_a_whole_copy_retires_no_row(
    sandbox: SandboxServer,
    empty_sandbox: SandboxServer,
    warehouse: Warehouse,
    hard_delete: bool,  # noqa: FBT001
) -> None:
    warehouse.settings["hard_delete"] = hard_delete
    config = tap_config(sandbox)
    catalog = full_table_catalog(config)
    first = warehouse.load(config, catalog=catalog, started_at=T0)
    assert first.target_returncode == 0
    assert first.tap.states[-1]["bookmarks"]["enrollments"] == {
        "last_full_table_copy": {"version": T0, "records": len(sandbox.store)}
    }
    before = all_columns(warehouse)

    # A token for another, empty workspace: a valid answer, with total 0.
    other = tap_config(empty_sandbox)
    empty = warehouse.load(
        other, catalog=catalog, state=first.tap.states[-1], started_at=T0 + DAY
    )

    line = failed_with_one_line(empty, "0 records", f"had {len(sandbox.store)}")
    assert "ACTIVATE_VERSION was not sent" in line
    assert "ACTIVATE_VERSION" not in message_types(empty)
    for state in empty.tap.states:
        assert state == first.tap.states[-1], "the state forgot the last copy"
    assert empty.target_returncode == 0
    assert all_columns(warehouse) == before
    assert len(warehouse.ids("_sdc_deleted_at is null")) == len(sandbox.store)


def test_a_first_copy_with_an_empty_answer_retires_no_row(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    # The incremental job filled the table; the copy job has no state yet.
    warehouse.load(tap_config(sandbox))
    before = all_columns(warehouse)
    count = len(sandbox.store)
    for enrollment_id in sandbox.store.ids_in_api_order():
        sandbox.store.delete(enrollment_id)  # the sandbox emptied

    config = tap_config(sandbox)
    empty = warehouse.load(config, catalog=full_table_catalog(config))

    failed_with_one_line(empty, "0 records", "nothing is known of before it")
    assert "ACTIVATE_VERSION" not in message_types(empty)
    assert all_columns(warehouse) == before
    assert len(before) == count


@pytest.mark.parametrize("hard_delete", [True, False], ids=["hard", "soft"])
def test_a_shrink_beyond_the_setting_retires_nothing_until_the_setting_allows_it(
    warehouse: Warehouse,
    hard_delete: bool,  # noqa: FBT001
) -> None:
    warehouse.settings["hard_delete"] = hard_delete
    live = "_sdc_deleted_at is null"
    with SandboxServer(EnrollmentStore.seeded(500), token=TOKEN) as api:
        config = tap_config(api, page_size=100)
        catalog = full_table_catalog(config)
        first = warehouse.load(config, catalog=catalog, started_at=T0)
        assert len(warehouse.ids(live)) == 500
        kept = set(api.store.ids_in_api_order()[::5]) | set(
            api.store.ids_in_api_order()[1::5]
        )
        for enrollment_id in set(api.store.ids_in_api_order()) - kept:
            api.store.delete(enrollment_id)
        assert len(api.store) == 200

        # The next day's copy: 200 of 500 is more than the default 0.5 shrink.
        shrunk = warehouse.load(
            config, catalog=catalog, state=first.tap.states[-1], started_at=T0 + DAY
        )
        failed_with_one_line(shrunk, "200 records, 300 fewer than the 500", "50%")
        assert "ACTIVATE_VERSION" not in message_types(shrunk)
        remembered = {"version": T0, "records": 500}
        assert {
            str(s["bookmarks"]["enrollments"]["last_full_table_copy"])
            for s in shrunk.tap.states
        } == {str(remembered)}
        assert len(warehouse.ids(live)) == 500
        assert len(warehouse.ids()) == 500

        # An hour later, by hand, with a setting that allows it.
        allowed = {**config, "full_table_max_shrink_percent": 70}
        retired = warehouse.load(
            allowed,
            catalog=catalog,
            state=shrunk.tap.states[-1],
            started_at=T0 + DAY + HOUR,
        )
        assert retired.tap.returncode == 0, retired.tap.stderr[-3000:]
        assert retired.target_returncode == 0
        (activation,) = retired.tap.activations
        assert activation["version"] == T0 + DAY + HOUR - 6 * HOUR
        copy = {"version": T0 + DAY + HOUR, "records": 200}
        assert retired.tap.states[-1]["bookmarks"]["enrollments"] == {
            "last_full_table_copy": copy
        }
        assert retired.target.states[-1] == retired.tap.states[-1]
        assert warehouse.ids(live) == kept
        assert postgres_rows(warehouse.connection, warehouse.schema, live) == api_rows(
            api.store
        )
        if hard_delete:
            assert warehouse.ids() == kept
        else:
            assert len(warehouse.ids("_sdc_deleted_at is not null")) == 300


def test_through_meltano_the_last_copy_is_remembered_and_a_shrink_stops_the_run(
    tmp_path: Path,
    sandbox: SandboxServer,
    schema: str,
    postgres: psycopg.Connection[Row],
) -> None:
    # The guard is only as good as the state Meltano hands the next copy.
    project = postgres_project(tmp_path, sandbox, schema)
    state_id = "dev:tap-reviewrover-full-table-to-target-postgres"
    project.run(*FULL_TABLE)
    count = len(sandbox.store)
    for enrollment_id in sandbox.store.ids_in_api_order()[: count * 2 // 3]:
        sandbox.store.delete(enrollment_id)
    left = len(sandbox.store)

    shrunk = project.meltano("run", *FULL_TABLE)

    assert shrunk.returncode != 0
    assert f"holds {left} records, {count - left} fewer than the {count}" in shrunk.log
    assert "Traceback" not in shrunk.log
    assert len(table_ids(postgres, schema)) == count
    # The run's message shows Meltano handed it the first copy's size; it still
    # holds it for the next run.
    after = project.state(state_id)["singer_state"]["bookmarks"]["enrollments"]
    assert after["last_full_table_copy"]["records"] == count


def test_a_deleted_row_leaves_at_the_first_copy_starting_the_grace_after_its_load(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    first = warehouse.load(tap_config(sandbox), started_at=T0)
    assert first.target_returncode == 0
    order = sandbox.store.ids_in_api_order()
    deleted = {order[7], order[64]}
    for enrollment_id in deleted:
        sandbox.store.delete(enrollment_id)
    api = set(sandbox.store.ids_in_api_order())
    config = tap_config(sandbox)
    catalog = full_table_catalog(config)

    # Exactly the grace (6 h) after their last load: a sync that started then
    # may still be loading them.
    at_the_grace = warehouse.load(config, catalog=catalog, started_at=T0 + 6 * HOUR)
    assert at_the_grace.tap.activations == [
        {"type": "ACTIVATE_VERSION", "stream": "enrollments", "version": T0}
    ]
    assert warehouse.ids() == api | deleted

    past_it = warehouse.load(
        config,
        catalog=catalog,
        state=at_the_grace.tap.states[-1],
        started_at=T0 + 6 * HOUR + 1,
    )
    assert past_it.target_returncode == 0
    assert warehouse.ids() == api
    assert postgres_rows(warehouse.connection, warehouse.schema) == api_rows(
        sandbox.store
    )


@pytest.mark.parametrize("workers", [1, 4], ids=["sequential", "concurrent"])
def test_ties_in_a_new_order_on_every_request_leave_every_live_row(
    tmp_path: Path, schema: str, postgres: psycopg.Connection[Row], workers: int
) -> None:
    # An API sorting on created_at alone serves same-second records in a new
    # order on every request; a copy that missed one of them would retire it:
    # no grace, hard delete, and every page edge splits a group of ties.
    store = EnrollmentStore.seeded(
        300, seed=11, ties=TieGroups(share=0.4, largest=6, page_size=10)
    )
    with SandboxServer(store, token=TOKEN) as sandbox:
        sandbox.faults.tie_shuffle_seed = 11
        warehouse = Warehouse(tmp_path, schema, postgres)
        try:
            config = tap_config(
                sandbox,
                max_concurrent_requests=workers,
                activate_version_grace_hours=0,
            )
            first = warehouse.load(config, started_at=T0)
            assert first.target_returncode == 0, first.tap.stderr[-3000:]
            copy = warehouse.load(
                config, catalog=full_table_catalog(config), started_at=T0 + DAY
            )
        finally:
            warehouse.close()
    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    assert copy.target_returncode == 0
    assert len(copy.tap.activations) == 1
    assert warehouse.ids() == set(store.ids_in_api_order())
    assert len(warehouse.ids()) == len(store) == 300
