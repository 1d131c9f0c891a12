"""scripts/quickstart: the main job, `meltano run tap-reviewrover target-duckdb`.

Each test runs the script itself, with its own Meltano system database (state) and
DuckDB file, so the developer's own quickstart warehouse is never touched.
"""

from __future__ import annotations

import re
import subprocess
import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore

from tests.meltano_project import (
    ROOT,
    api_rows,
    duckdb_rows,
    meltano_environment,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

SCRIPT = ROOT / "scripts" / "quickstart"
#: What the script's sandbox holds: seeded enrollments, then ACTIVITY updated
#: and ACTIVITY // 5 created on every start.
SEEDED, ACTIVITY = 2000, 50

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


def quickstart(env: dict[str, str]) -> str:
    """Run scripts/quickstart, which must succeed; return what it printed."""
    completed = subprocess.run(
        [str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def readme_output() -> list[str]:
    """The lines the README prints for a first run of scripts/quickstart.

    Only those that are the same on every machine: not the installs (done already
    here), the sandbox's port, the seconds, or the paths of this test's files.
    """
    readme = (ROOT / "README.md").read_text()
    block = readme.split("scripts/quickstart\n```\n\n```text\n", 1)[1]
    lines = block.split("\n```", 1)[0].splitlines()
    kept = []
    for line in lines:
        if line.startswith(("Installing ", "No TAP_", "Database:", "Log:", "  ...")):
            continue
        # The summary line, up to its seconds.
        kept.append(line.rsplit(", ", 1)[0] if line.startswith("Sync of") else line)
    return kept


def holds_line(rows: list[tuple[t.Any, ...]]) -> str:
    """The summary's line for a table of these rows (completed is column 4)."""
    completed = sum(1 for row in rows if row[4])
    return (
        f"The warehouse holds {len(rows)} enrollments: {completed} completed, "
        f"{len(rows) - completed} active."
    )


def test_with_a_token_it_loads_that_api_then_only_what_changed(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    env = meltano_environment(tmp_path, sandbox)
    del env["TAP_REVIEWROVER_PAGE_SIZE"]
    database = tmp_path / "warehouse.duckdb"

    first = quickstart(env)
    assert f"Syncing from {sandbox.url}" in first
    assert f"done: {len(sandbox.store)} records emitted" in first
    assert duckdb_rows(database) == api_rows(sandbox.store)
    assert holds_line(api_rows(sandbox.store)) in first
    assert f"Database: {database} (table reviewrover.enrollments)" in first

    order = sandbox.store.ids_in_api_order()
    for enrollment_id in order[:2]:
        sandbox.store.update(enrollment_id, completed=True)
    sandbox.store.create("camp_new", "cont_new")
    second = quickstart(env)
    assert "done: 3 records emitted" in second
    assert duckdb_rows(database) == api_rows(sandbox.store)
    assert holds_line(api_rows(sandbox.store)) in second


def test_without_a_token_it_loads_the_seeded_sandbox_it_starts(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    env = meltano_environment(tmp_path, sandbox)
    # As a user runs it: no token, no API, the default page size.
    for name in ("API_URL", "AUTH_TOKEN", "PAGE_SIZE"):
        del env[f"TAP_REVIEWROVER_{name}"]

    output = quickstart(env)
    assert re.search(
        r"^No TAP_REVIEWROVER_AUTH_TOKEN set: syncing from the local sandbox at "
        r"http://127\.0\.0\.1:\d+/api$",
        output,
        re.MULTILINE,
    )
    loaded = duckdb_rows(tmp_path / "warehouse.duckdb")
    assert f"done: {len(loaded)} records emitted" in output
    # What the README prints is what it printed: the sandbox's data is seeded.
    printed = readme_output()
    assert len(printed) > 5
    for line in printed:
        assert line in output
    assert holds_line(loaded) in output
    # The seeded enrollments, ACTIVITY of them updated on start, and new ones.
    seeded = {row[0]: row for row in api_rows(EnrollmentStore.seeded(SEEDED))}
    assert [row[0] for row in loaded] == list(range(1, SEEDED + ACTIVITY // 5 + 1))
    updated = [row for row in loaded if row[0] in seeded and row != seeded[row[0]]]
    assert len(updated) == ACTIVITY
    for row in updated:  # only `completed` and `updated_at` changed
        assert row[:4] + row[5:6] == seeded[row[0]][:4] + seeded[row[0]][5:6]
    created = ACTIVITY // 5
    assert (
        f"This run changed the warehouse: {SEEDED + created} new enrollments, "
        "0 updated." in output
    )

    # The sandbox keeps its data in a file: the next start goes on from there,
    # with more activity, and the next run loads exactly those changes.
    assert (tmp_path / "sandbox-data.json").is_file()
    again = quickstart(env)
    reloaded = duckdb_rows(tmp_path / "warehouse.duckdb")
    assert [row[0] for row in reloaded] == list(range(1, SEEDED + 2 * created + 1))
    changed = [row for row in reloaded if row[0] <= len(loaded) and row not in loaded]
    assert len(changed) == ACTIVITY
    assert (
        f"This run changed the warehouse: {created} new enrollments, "
        f"{ACTIVITY} updated." in again
    )


def test_the_quickstart_group_pins_the_meltano_extras_versions() -> None:
    # scripts/quickstart installs the group, users the extra: the same releases.
    pyproject = (ROOT / "pyproject.toml").read_text()
    extra = pyproject.split("\nmeltano = [", 1)[1].split("]\n", 1)[0]
    group = pyproject.split("\nquickstart = [", 1)[1].split("]\n", 1)[0]
    pins = re.compile(r'"(meltano|duckdb)(?:\[\w+\])?==([^"]+)"')
    assert sorted(pins.findall(group)) == sorted(pins.findall(extra))
    assert len(pins.findall(group)) == 2
