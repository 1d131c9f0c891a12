"""End to end: meltano.yml's jobs and schedules, backfills, and state in PostgreSQL.

Each test has its own sandbox, Meltano system database (state) and schema in the
`test` database, as in test_meltano_postgres.py.
"""

from __future__ import annotations

import json
import shutil
import typing as t
import uuid

import psycopg
import pytest
from reviewrover_sandbox import EnrollmentStore, SandboxServer

from tests.conftest import TOKEN
from tests.meltano_project import (
    ROOT,
    MeltanoProject,
    api_rows,
    changed_rows,
    postgres_project,
    postgres_rows,
    private_system_dir,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.meltano_project import Row

#: The state the scheduled incremental job into PostgreSQL keeps, in `dev`.
INCREMENTAL_STATE = "dev:tap-reviewrover-to-target-postgres"
#: What `meltano schedule list --format=json` must show: name, cron, job, tasks.
SCHEDULES = [
    ("postgres-incremental-sync-hourly", "0 * * * *", "postgres-incremental-sync"),
    (
        "postgres-full-table-retire-deleted-daily",
        "30 3 * * *",
        "postgres-full-table-retire-deleted",
    ),
    ("duckdb-incremental-sync-hourly", "0 * * * *", "duckdb-incremental-sync"),
    ("duckdb-full-table-reload-daily", "30 3 * * *", "duckdb-full-table-reload"),
    (
        "postgres-open-enrollments-sync-hourly",
        "0 * * * *",
        "postgres-open-enrollments-sync",
    ),
]
JOBS = {
    "postgres-incremental-sync": ["tap-reviewrover target-postgres"],
    "postgres-full-table-retire-deleted": [
        "tap-reviewrover-full-table target-postgres"
    ],
    "duckdb-incremental-sync": ["tap-reviewrover target-duckdb"],
    "duckdb-full-table-reload": ["tap-reviewrover-full-table target-duckdb"],
    "postgres-open-enrollments-sync": [
        "tap-reviewrover-open-enrollments target-postgres"
    ],
}

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, schema: str) -> MeltanoProject:
    """The Meltano project, loading into this test's schema."""
    return postgres_project(tmp_path, sandbox, schema)


@pytest.fixture
def system_database(postgres: psycopg.Connection[Row]) -> Iterator[str]:
    """A new, empty PostgreSQL database for Meltano's system tables; its URI."""
    name = f"meltano_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"create database {name}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    postgres.execute(f"drop database {name} with (force)")


def listed_json(project: MeltanoProject, *command: str) -> dict[str, t.Any]:
    """The JSON a ``meltano ... list --format=json`` command prints."""
    listed = project.meltano(*command, "list", "--format=json").check()
    return t.cast("dict[str, t.Any]", json.loads(listed.log[listed.log.index("{") :]))


def update_first_of_pages(sandbox: SandboxServer, *pages: int) -> list[int]:
    """Flip ``completed`` of the first enrollment of each 10-record page."""
    order = sandbox.store.ids_in_api_order()
    changed = [order[(page - 1) * 10] for page in pages]
    for enrollment_id in changed:
        record = sandbox.store.get(enrollment_id)
        assert record is not None
        sandbox.store.update(enrollment_id, completed=not record["completed"])
    return sorted(changed)


def test_jobs_and_schedules_are_listed_by_name(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox)
    jobs = listed_json(project, "job")["jobs"]
    assert {job["job_name"]: job["tasks"] for job in jobs} == JOBS
    schedules = listed_json(project, "schedule")["schedules"]
    assert schedules["elt"] == []
    listed = [
        (entry["name"], entry["cron_interval"], entry["job"]["name"])
        for entry in schedules["job"]
    ]
    assert listed == SCHEDULES
    for entry in schedules["job"]:
        assert entry["job"]["tasks"] == JOBS[entry["job"]["name"]]
        # DuckDB is the warehouse of `dev`; PostgreSQL runs where it is told.
        dev = {"MELTANO_ENVIRONMENT": "dev"}
        assert entry["env"] == (dev if entry["name"].startswith("duckdb") else {})


def test_schedule_run_syncs_its_job_and_keeps_the_pipelines_state(
    project: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    first = project.meltano("schedule", "run", "postgres-incremental-sync-hourly")
    assert first.check().records_emitted == len(project.sandbox.store)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)
    # The job's state is the pipeline's: a plain `meltano run` goes on from it.
    assert project.state_ids() == [INCREMENTAL_STATE]
    updated = update_first_of_pages(project.sandbox, 2, 7)
    rerun = project.run("tap-reviewrover", "target-postgres")
    assert rerun.records_emitted == len(updated)
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)


def test_a_backfill_window_with_its_own_state_leaves_the_scheduled_state_as_it_was(
    project: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    project.run("postgres-incremental-sync")
    scheduled = project.state(INCREMENTAL_STATE)
    before = postgres_rows(postgres, schema)
    updated = update_first_of_pages(project.sandbox, 1, 5, 9)

    # The README's backfill: January 2025 (updates from the 1st to before
    # February), with a state of its own.
    project.env["TAP_REVIEWROVER_START_DATE"] = "2025-01-01"
    project.env["TAP_REVIEWROVER_END_DATE"] = "2025-02-01"
    backfill = project.run(
        "--state-id-suffix=backfill-2025-01",
        "--full-refresh",
        "postgres-incremental-sync",
    )
    del (
        project.env["TAP_REVIEWROVER_START_DATE"],
        project.env["TAP_REVIEWROVER_END_DATE"],
    )
    window = [
        r
        for r in project.sandbox.store.all_records()
        if "2025-01-01" <= r["updated_at"] < "2025-02-01"
    ]
    assert 0 < backfill.records_emitted == len(window) < len(before)
    # Its bookmark stops at the window's end: a later run of it goes on from there.
    bookmark = project.state(f"{INCREMENTAL_STATE}:backfill-2025-01")["singer_state"]
    assert bookmark["bookmarks"]["enrollments"]["replication_key_value"] == (
        "2025-02-01T00:00:00Z"
    )
    assert project.state(INCREMENTAL_STATE) == scheduled
    assert project.state_ids() == sorted(
        [INCREMENTAL_STATE, f"{INCREMENTAL_STATE}:backfill-2025-01"]
    )

    # The scheduled job's next run still emits exactly its own changes.
    scheduled_run = project.run("postgres-incremental-sync")
    assert scheduled_run.records_emitted == len(updated)
    after = postgres_rows(postgres, schema)
    assert after == api_rows(project.sandbox.store)
    assert list(changed_rows(before, after)) == updated


def test_a_start_date_meltano_cannot_read_as_a_date_reaches_the_tap_as_typed(
    project: MeltanoProject,
) -> None:
    project.env["TAP_REVIEWROVER_START_DATE"] = "yesterday"
    run = project.meltano("run", "postgres-incremental-sync")
    assert run.returncode == 1
    assert (
        "tap-reviewrover start_date must be an ISO 8601 date or date-time such as "
        "2025-02-10 or 2025-02-10T00:00:00Z, not 'yesterday'"
    ) in run.log
    assert project.sandbox.list_request_count == 0


def test_two_clones_share_state_through_a_postgresql_system_database(
    tmp_path: Path,
    sandbox: SandboxServer,
    postgres: psycopg.Connection[Row],
    schema: str,
    system_database: str,
) -> None:
    clones = []
    for name in ("runner-a", "runner-b"):
        # A copy of the project, with a .meltano of its own (only the installed
        # plugins are shared, as an image would hold them) and no meltano.db.
        clone = tmp_path / name
        clone.mkdir()
        shutil.copy(ROOT / "meltano.yml", clone / "meltano.yml")
        project = MeltanoProject(
            clone,
            sandbox,
            MELTANO_DATABASE_URI=system_database,
            MELTANO_SYS_DIR_ROOT=str(private_system_dir(clone)),
            TARGET_POSTGRES_DATABASE="test",
            TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
        )
        project.root = clone
        clones.append(project)
    first, second = clones

    assert first.run("postgres-incremental-sync").records_emitted == len(sandbox.store)
    updated = update_first_of_pages(sandbox, 3, 10)
    created = sandbox.store.create("camp_new", "cont_after_the_first_run")["id"]
    assert second.run("postgres-incremental-sync").records_emitted == len(updated) + 1
    assert postgres_rows(postgres, schema) == api_rows(sandbox.store)
    assert created in [row[0] for row in postgres_rows(postgres, schema)]
    for runner in clones:
        assert not (runner.root / ".meltano" / "meltano.db").exists()
        assert runner.state_ids() == [INCREMENTAL_STATE]
    with psycopg.connect(system_database.replace("+psycopg", "")) as meltano_db:
        (count,) = meltano_db.execute("select count(*) from runs").fetchone() or (0,)
    assert count == 2


#: The state the narrow job keeps, in `dev`.
OPEN_ENROLLMENTS_STATE = "dev:tap-reviewrover-open-enrollments-to-target-postgres"


def test_the_open_enrollments_job_walks_every_page_once_then_narrowly(
    tmp_path: Path, postgres: psycopg.Connection[Row], schema: str
) -> None:
    # 300 enrollments, 15 open: the narrow walk pays (pages of 10).
    store = EnrollmentStore.seeded(300, completed_share=0.95)
    with SandboxServer(store, token=TOKEN) as sandbox:
        project = postgres_project(tmp_path, sandbox, schema)
        first = project.meltano(
            "schedule", "run", "postgres-open-enrollments-sync-hourly"
        )
        assert first.check().records_emitted == len(store)
        assert "Reading every page of enrollments: the state holds no open set" in (
            first.log
        )
        assert postgres_rows(postgres, schema) == api_rows(store)
        before = postgres_rows(postgres, schema)

        open_ids = [r["id"] for r in store.all_records() if not r["completed"]]
        store.update(open_ids[0], completed=True)  # read one by one
        store.update(open_ids[-1])  # on the open pages
        second = project.run("postgres-open-enrollments-sync")
        assert second.records_emitted == 2
        assert "pages of open enrollments" in second.log
        assert "Reading every page" not in second.log
        after = postgres_rows(postgres, schema)
        assert after == api_rows(store)
        assert list(changed_rows(before, after)) == sorted(open_ids[i] for i in (0, -1))
        kept = project.state(OPEN_ENROLLMENTS_STATE)["singer_state"]["bookmarks"]
        assert (
            kept["enrollments"]["open_enrollments"]["open_count"] == len(open_ids) - 1
        )
        assert project.state_ids() == [OPEN_ENROLLMENTS_STATE]
