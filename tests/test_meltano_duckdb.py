"""End to end: `meltano run tap-reviewrover target-duckdb`, the embedded warehouse.

target-duckdb 0.8.0 loads each batch with a CSV COPY that DuckDB 1.3 and later read
with a header row, dropping one row per batch; meltano.yml pins the DuckDB that
does not. Small batches make that visible: each lost row would break equality.
"""

from __future__ import annotations

import typing as t

import duckdb
import pytest

from tests.meltano_project import MeltanoProject, api_rows, changed_rows, duckdb_rows

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

    from tests.meltano_project import Row

PIPELINE = ("tap-reviewrover", "target-duckdb")
#: Rows per batch: the 95 seeded enrollments load in 10 batches.
BATCH_SIZE_ROWS = 10

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer) -> MeltanoProject:
    """The Meltano project, loading into a DuckDB file of this test's own."""
    return MeltanoProject(
        tmp_path, sandbox, TARGET_DUCKDB_BATCH_SIZE_ROWS=str(BATCH_SIZE_ROWS)
    )


def all_columns(path: Path) -> list[Row]:
    """Every column of every row, the _sdc_* metadata included, ordered by id."""
    with duckdb.connect(str(path), read_only=True) as database:
        query = "select * from reviewrover.enrollments order by id"
        return database.execute(query).fetchall()


def column_types(path: Path) -> dict[str, str]:
    """The DuckDB type of each column of the enrollments table."""
    with duckdb.connect(str(path), read_only=True) as database:
        rows = database.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'reviewrover' and table_name = 'enrollments'"
        ).fetchall()
    return dict(rows)


def test_the_first_load_over_many_batches_equals_the_api_with_typed_columns(
    project: MeltanoProject,
) -> None:
    run = project.run(*PIPELINE)
    assert run.log.count("Loading 10 rows") >= len(project.sandbox.store) // 10
    assert duckdb_rows(project.duckdb_path) == api_rows(project.sandbox.store)
    types = column_types(project.duckdb_path)
    assert types["id"] in {"BIGINT", "HUGEINT"}  # target-duckdb: HUGEINT
    assert types["completed"] == "BOOLEAN"
    for column in ("enrolled_at", "created_at", "updated_at"):
        assert types[column].startswith("TIMESTAMP"), (column, types[column])


def test_a_rerun_without_api_changes_touches_no_row(project: MeltanoProject) -> None:
    project.run(*PIPELINE)
    before = all_columns(project.duckdb_path)
    rerun = project.run(*PIPELINE)
    assert rerun.records_emitted == 0
    assert all_columns(project.duckdb_path) == before


def test_updates_and_inserts_replace_and_add_rows_never_duplicate_them(
    project: MeltanoProject,
) -> None:
    project.run(*PIPELINE)
    before = duckdb_rows(project.duckdb_path)
    order = project.sandbox.store.ids_in_api_order()
    updated = [order[0], order[50], order[-1]]
    for enrollment_id in updated:
        project.sandbox.store.update(enrollment_id, contact_id="cont_changed")
    created = [
        project.sandbox.store.create("camp_new", f"cont_{n}")["id"] for n in "ab"
    ]
    project.run(*PIPELINE)
    after = duckdb_rows(project.duckdb_path)
    assert after == api_rows(project.sandbox.store)
    assert list(changed_rows(before, after)) == sorted(updated + created)
