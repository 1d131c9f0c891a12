"""The quickstart's path: the tap's output loaded into the embedded SQLite warehouse."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import typing as t
from pathlib import Path

from tap_reviewrover.streams import EnrollmentsStream
from tests.conftest import clean_env, tap_command, tap_config

if t.TYPE_CHECKING:
    from tap_reviewrover.sandbox import SandboxServer

LOADER = Path(__file__).parent.parent / "scripts" / "load_sqlite.py"


def sync_into_sqlite(sandbox: SandboxServer, work: Path) -> str:
    """Pipe the tap into the loader, as scripts/quickstart does."""
    config = work / "config.json"
    config.write_text(json.dumps(tap_config(sandbox)))
    state = work / "state.json"
    command = tap_command("--config", str(config))
    if state.exists():
        command += ["--state", str(state)]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    ) as tap:
        loaded = subprocess.run(
            [
                sys.executable,
                str(LOADER),
                "--database",
                str(work / "w.sqlite"),
                "--state",
                str(state),
            ],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            check=True,
        )
    assert tap.returncode == 0
    return loaded.stdout


def warehouse_rows(work: Path) -> list[tuple[t.Any, ...]]:
    with sqlite3.connect(work / "w.sqlite") as database:
        return database.execute("select * from enrollments order by id").fetchall()


def api_rows(sandbox: SandboxServer) -> list[tuple[t.Any, ...]]:
    columns = list(EnrollmentsStream.schema["properties"])
    records = sorted(sandbox.store.all_records(), key=lambda r: r["id"])
    return [
        tuple(int(r[c]) if c == "completed" else r[c] for c in columns) for r in records
    ]


def test_the_warehouse_equals_the_api_after_each_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    first = sync_into_sqlite(sandbox, tmp_path)
    assert warehouse_rows(tmp_path) == api_rows(sandbox)
    assert "Loaded 95 new or changed enrollments" in first

    for enrollment_id in sandbox.store.ids_in_api_order()[:3]:
        sandbox.store.update(enrollment_id, completed=True)
    sandbox.store.create("camp_new", "cont_new")
    second = sync_into_sqlite(sandbox, tmp_path)
    assert warehouse_rows(tmp_path) == api_rows(sandbox)
    assert "Loaded 4 new or changed enrollments" in second
    assert "The warehouse holds 96 enrollments" in second
