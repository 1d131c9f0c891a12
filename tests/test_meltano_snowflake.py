"""End to end: `meltano run tap-reviewrover target-snowflake` into a local Snowflake.

The Snowflake is fakesnow's server (DuckDB underneath, Snowflake's wire protocol),
started by the test on a free port. The project is this repository's meltano.yml
with one more environment, ``fakesnow``, that exists only here: target-snowflake's
settings for that server, and its loader-guard runs ``tests/snowflake_adapter.py``
in target-snowflake's own venv: the real ``meltanolabs-target-snowflake`` with its
connector aimed at the local server. Every row lands through the target's own
``MERGE``; ACTIVATE_VERSION is the SDK's ``UPDATE`` with ``hard_delete: false``,
as meltano.yml configures it.

**Not tested here:** uploading the batch files to Snowflake's user stage (``PUT``,
``REMOVE``) and the named file format: fakesnow has neither, so the adapter reads
the batch files where the target wrote them (see the adapter). Nor logging in
with a password or key: fakesnow accepts any.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import typing as t
import uuid

import fakesnow.server as fakesnow_app
import pytest
import snowflake.connector
import uvicorn
import yaml

from tests.meltano_project import (
    ROOT,
    MeltanoProject,
    api_rows,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

    from tests.meltano_project import Row

INCREMENTAL = ("tap-reviewrover", "target-snowflake")
FULL_TABLE = ("tap-reviewrover-full-table", "target-snowflake")
SNOWFLAKE_PYTHON = (
    ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "python"
)
#: Rows per batch (and MERGE): several per run.
BATCH_SIZE_ROWS = 40
COLUMNS = "id, campaign_id, contact_id, enrolled_at, completed, created_at, updated_at"

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


class LocalSnowflake:
    """A database of its own in the fakesnow server, read as a user would."""

    def __init__(self, connect: dict[str, t.Any], database: str) -> None:
        """Create the database (the target wants it to exist, as in Snowflake)."""
        self.connect, self.database = connect, database
        self.query(f"create database {database}")

    def query(self, sql: str) -> list[Row]:
        """Run one statement with the Snowflake connector; return its rows."""
        with snowflake.connector.connect(**self.connect) as connection:
            cursor = connection.cursor()
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    @property
    def table(self) -> str:
        """The table the target loads."""
        return f"{self.database}.REVIEWROVER.ENROLLMENTS"

    def rows(self, where: str = "true") -> list[Row]:
        """The stream's columns of the loaded rows, ordered by id."""
        return self.query(
            f"select {COLUMNS} from {self.table} where {where} order by id"  # noqa: S608 - test's own names
        )


@contextlib.contextmanager
def fakesnow_server() -> Iterator[dict[str, t.Any]]:
    """Fakesnow's server in a thread, on a socket already listening.

    Connections made before the server runs wait in the socket's queue, so
    nothing waits for it to start. (``fakesnow.server()`` does the same, but polls
    for the start, and the name is lost once its module is imported.)

    Yields:
        The Snowflake connector's arguments for it.
    """
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(fakesnow_app.app, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, daemon=True
    )
    thread.start()
    try:
        yield {
            "user": "LOADER",
            "password": "fakesnow-accepts-any",
            "account": "fakesnow",
            "host": "127.0.0.1",
            "port": listening.getsockname()[1],
            "protocol": "http",
            "network_timeout": 1,  # fakesnow's errors are HTTP 500: no retries
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
    finally:
        server.should_exit = True
        thread.join()
        listening.close()


@pytest.fixture
def warehouse() -> Iterator[LocalSnowflake]:
    """A Snowflake of this test's own: fakesnow's server, a database."""
    if not SNOWFLAKE_PYTHON.exists():
        pytest.fail("target-snowflake is not installed: run scripts/install_plugins")
    with fakesnow_server() as connect:
        yield LocalSnowflake(connect, f"TEST_{uuid.uuid4().hex[:10].upper()}")


@pytest.fixture
def project(
    tmp_path: Path, sandbox: SandboxServer, warehouse: LocalSnowflake
) -> MeltanoProject:
    """This repository's project plus the test-only ``fakesnow`` environment."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "meltano.yml", root / "meltano.yml")
    definition = yaml.safe_load((root / "meltano.yml").read_text())
    definition["environments"].append(
        {
            "name": "fakesnow",
            "config": {
                "plugins": {
                    "loaders": [
                        {
                            "name": "target-snowflake",
                            "config": {
                                "account": "fakesnow",
                                "user": "LOADER",
                                "password": "fakesnow-accepts-any",
                                "database": warehouse.database,
                                "warehouse": "LOADING",
                                "role": "LOADER_ROLE",
                                "batch_size_rows": BATCH_SIZE_ROWS,
                            },
                            "env": {
                                "LOADER_GUARD_COMMAND": (
                                    f"python {ROOT / 'tests' / 'snowflake_adapter.py'}"
                                ),
                                "FAKESNOW_HOST": "127.0.0.1",
                                "FAKESNOW_PORT": str(warehouse.connect["port"]),
                            },
                        }
                    ]
                }
            },
        }
    )
    (root / "meltano.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    # The FULL_TABLE test loads, deletes and copies within seconds: no grace
    # (which keeps rows an overlapping sync loaded; tested on its own).
    project = MeltanoProject(
        tmp_path,
        sandbox,
        MELTANO_ENVIRONMENT="fakesnow",
        TAP_REVIEWROVER_ACTIVATE_VERSION_GRACE_HOURS="0",
    )
    project.root = root
    return project


def test_a_full_sync_loads_exactly_the_apis_rows_with_snowflake_types(
    project: MeltanoProject, warehouse: LocalSnowflake
) -> None:
    run = project.run(*INCREMENTAL)
    assert "Processing batch of files" in run.log  # the target's own staged load
    assert warehouse.rows() == api_rows(project.sandbox.store)
    columns = f"{warehouse.database}.information_schema.columns"
    types: dict[str, str] = dict(
        warehouse.query(
            f"select column_name, data_type from {columns} "  # noqa: S608 - own names
            "where table_name = 'ENROLLMENTS'"
        )
    )
    assert {name: types[name.upper()] for name in COLUMNS.split(", ")} == {
        "id": "NUMBER",
        "campaign_id": "TEXT",  # how Snowflake names VARCHAR there too
        "contact_id": "TEXT",
        "enrolled_at": "TIMESTAMP_NTZ",
        "completed": "BOOLEAN",
        "created_at": "TIMESTAMP_NTZ",
        "updated_at": "TIMESTAMP_NTZ",
    }
    assert types["_SDC_DELETED_AT"] == "TIMESTAMP_NTZ"


def test_an_incremental_rerun_updates_changed_rows_and_duplicates_none(
    project: MeltanoProject, warehouse: LocalSnowflake
) -> None:
    store = project.sandbox.store
    project.run(*INCREMENTAL)
    changed = store.ids_in_api_order()[::30]  # on several pages
    for enrollment_id in changed:
        record = store.get(enrollment_id)
        assert record is not None
        store.update(enrollment_id, completed=not record["completed"])
    store.create("camp_new", "cont_after_the_first_run")

    again = project.run(*INCREMENTAL)
    # The changes, and what the bookmark's safety margin sends again.
    assert again.records_emitted < len(store)
    assert warehouse.rows() == api_rows(store)
    ((rows, ids),) = warehouse.query(
        f"select count(*), count(distinct id) from {warehouse.table}"  # noqa: S608
    )
    assert rows == ids == len(store)


def test_a_full_table_run_marks_a_deleted_enrollment_and_keeps_its_row(
    project: MeltanoProject, warehouse: LocalSnowflake
) -> None:
    store = project.sandbox.store
    project.run(*INCREMENTAL)
    deleted = store.ids_in_api_order()[42]
    store.delete(deleted)

    project.run(*FULL_TABLE)
    # hard_delete: false (meltano.yml): the row stays, marked.
    assert warehouse.rows("_sdc_deleted_at is null") == api_rows(store)
    marked = warehouse.query(
        f"select id from {warehouse.table} where _sdc_deleted_at is not null"  # noqa: S608
    )
    assert marked == [(deleted,)]
