"""End to end: `meltano run` from the sandbox API into the real PostgreSQL.

Each test has its own sandbox, Meltano system database (state) and schema in the
`test` database at 127.0.0.1:5432. Without that server the tests skip, except
under CI (``CI=true``), where they fail: .ci/run starts it.
"""

from __future__ import annotations

import typing as t

import pytest
from reviewrover_sandbox import Fault

from tests.meltano_project import (
    COLUMNS,
    PAGE_SIZE,
    MeltanoProject,
    api_rows,
    changed_rows,
    postgres_project,
    postgres_rows,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    import psycopg
    from reviewrover_sandbox import SandboxServer

    from tests.meltano_project import Row

INCREMENTAL = ("tap-reviewrover", "target-postgres")
FULL_TABLE = ("tap-reviewrover-full-table", "target-postgres")
#: Rows per batch the target commits: several batches per run.
BATCH_SIZE_ROWS = 20

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, schema: str) -> MeltanoProject:
    """The Meltano project, loading into this test's schema.

    Its FULL_TABLE copies retire every row the copy lacks at once: these tests
    load, delete and copy within seconds, and activate_version_grace_hours (which
    keeps rows that an overlapping sync loaded) has tests of its own.
    """
    return postgres_project(
        tmp_path,
        sandbox,
        schema,
        TARGET_POSTGRES_BATCH_SIZE_ROWS=str(BATCH_SIZE_ROWS),
        TAP_REVIEWROVER_ACTIVATE_VERSION_GRACE_HOURS="0",
    )


def all_columns(connection: psycopg.Connection[Row], schema: str) -> list[Row]:
    """Every column of every row, Meltano's _sdc_* included, ordered by id."""
    query = f"select * from {schema}.enrollments order by id"  # noqa: S608 - own name
    return connection.execute(query).fetchall()


def column_types(connection: psycopg.Connection[Row], schema: str) -> dict[str, str]:
    """The PostgreSQL type of each column of the enrollments table."""
    rows = connection.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = %s and table_name = 'enrollments'",
        (schema,),
    ).fetchall()
    return dict(rows)


def update_on_pages(sandbox: SandboxServer, pages: t.Iterable[int]) -> list[int]:
    """Flip ``completed`` of the first enrollment of each page; return their ids."""
    order = sandbox.store.ids_in_api_order()
    changed = [order[(page - 1) * PAGE_SIZE] for page in pages]
    for enrollment_id in changed:
        record = sandbox.store.get(enrollment_id)
        assert record is not None
        sandbox.store.update(enrollment_id, completed=not record["completed"])
    return changed


def test_the_first_load_equals_the_api_with_typed_columns(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)
    types = column_types(postgres, schema)
    assert types["id"] == "bigint"
    assert types["completed"] == "boolean"
    for column in ("enrolled_at", "created_at", "updated_at"):
        assert types[column].startswith("timestamp"), (column, types[column])
    assert types["campaign_id"] == types["contact_id"] == "text"


def test_text_postgres_cannot_hold_and_the_largest_id_load_with_the_rest(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    # A NUL or a lone surrogate used to fail the whole load; U+FFFD loads.
    store = project.sandbox.store
    order = store.ids_in_api_order()
    store.update(order[3], contact_id="cont_\x00nul")
    store.update(order[40], campaign_id="camp_\ud800half")
    largest = 2**63 - 1

    def largest_id(records: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        for record in records:
            if record["id"] == order[70]:
                record["id"] = largest
        return records

    project.sandbox.faults.add(Fault.records(largest_id), times=None)
    run = project.run(*INCREMENTAL)
    rows = {row[0]: row for row in postgres_rows(postgres, schema)}
    assert len(rows) == len(store)
    contact, campaign = COLUMNS.index("contact_id"), COLUMNS.index("campaign_id")
    assert rows[order[3]][contact] == "cont_\ufffdnul"
    assert rows[order[40]][campaign] == "camp_\ufffdhalf"
    assert largest in rows
    assert order[70] not in rows
    assert column_types(postgres, schema)["id"] == "bigint"
    assert f"record id {order[3]}: `contact_id` (a NUL character)" in run.log
    assert f"record id {order[40]}: `campaign_id` (a lone surrogate or bytes" in run.log


def test_a_rerun_without_api_changes_touches_no_row(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    before = all_columns(postgres, schema)
    rerun = project.run(*INCREMENTAL)
    assert rerun.records_emitted == 0
    assert all_columns(postgres, schema) == before


def test_updates_and_inserts_replace_and_add_rows_never_duplicate_them(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    before = postgres_rows(postgres, schema)
    updated = update_on_pages(project.sandbox, [1, 4, 10])
    created = [
        project.sandbox.store.create("camp_new", f"cont_{n}")["id"] for n in "ab"
    ]
    rerun = project.run(*INCREMENTAL)
    assert rerun.records_emitted == len(updated) + len(created)
    after = postgres_rows(postgres, schema)
    assert after == api_rows(project.sandbox.store)
    assert list(changed_rows(before, after)) == sorted(updated + created)


def test_a_full_refresh_reloads_every_enrollment(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    update_on_pages(project.sandbox, [3])
    refresh = project.run("--full-refresh", *INCREMENTAL)
    assert refresh.records_emitted == len(project.sandbox.store)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)


def test_a_full_table_run_deletes_rows_deleted_in_the_api(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    order = project.sandbox.store.ids_in_api_order()
    for enrollment_id in (order[0], order[47], order[-1]):
        project.sandbox.store.delete(enrollment_id)
    project.run(*FULL_TABLE)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)


def test_with_soft_delete_a_full_table_run_marks_rows_deleted_in_the_api(
    tmp_path: Path,
    sandbox: SandboxServer,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project = MeltanoProject(
        tmp_path,
        sandbox,
        TARGET_POSTGRES_DATABASE="test",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
        TARGET_POSTGRES_HARD_DELETE="false",
        TAP_REVIEWROVER_ACTIVATE_VERSION_GRACE_HOURS="0",  # see project()
    )
    project.run(*INCREMENTAL)
    order = sandbox.store.ids_in_api_order()
    deleted = sorted([order[5], order[60]])
    for enrollment_id in deleted:
        sandbox.store.delete(enrollment_id)
    project.run(*FULL_TABLE)
    live = postgres_rows(postgres, schema, where="_sdc_deleted_at is null")
    assert live == api_rows(sandbox.store)
    marked = postgres_rows(postgres, schema, where="_sdc_deleted_at is not null")
    assert [row[0] for row in marked] == deleted


def test_a_full_table_run_killed_halfway_leaves_existing_rows_as_they_were(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
) -> None:
    project.run(*INCREMENTAL)
    before = postgres_rows(postgres, schema)
    order = project.sandbox.store.ids_in_api_order()
    for enrollment_id in (order[3], order[88]):
        project.sandbox.store.delete(enrollment_id)

    project.run_and_kill(*FULL_TABLE, victim="tap-reviewrover", page=6)
    assert postgres_rows(postgres, schema) == before

    project.run(*FULL_TABLE)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)


@pytest.mark.parametrize("victim", ["tap-reviewrover", "target-postgres", "meltano"])
def test_after_a_run_killed_halfway_the_next_run_loads_exactly_the_api(
    project: MeltanoProject,
    postgres: psycopg.Connection[Row],
    schema: str,
    victim: str,
) -> None:
    # The first sync, killed: its STATE messages must not let the next run skip
    # the pages it never read (their records are older than anything it read).
    project.run_and_kill(*INCREMENTAL, victim=victim, page=5)
    project.sandbox.store.create("camp_new", "cont_after_the_kill")
    # Killed with Meltano itself, the run stays "running" in Meltano's database
    # for a while, and the next one would refuse to start without --force.
    force = ["--force"] if victim == "meltano" else []
    project.run(*force, *INCREMENTAL)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)
