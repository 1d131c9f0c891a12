"""Run the repository's Meltano project as a user would, isolated per test.

Each `MeltanoProject` runs `meltano` from the repository root (its meltano.yml and
the plugins `scripts/install_plugins` put in .meltano/) with its own system
database (so its own state), its own sandbox API and its own warehouse: a
PostgreSQL schema and a DuckDB file. Nothing is shared between tests but the
installed plugins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import typing as t
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psutil

from tap_reviewrover.streams import EnrollmentsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg
    from reviewrover_sandbox import EnrollmentStore, SandboxServer

ROOT = Path(__file__).parent.parent
MELTANO = Path(sys.executable).with_name("meltano")
#: The stream's own columns, in the order of its schema.
COLUMNS = tuple(EnrollmentsStream.schema["properties"])
TIMESTAMP_COLUMNS = frozenset(
    name
    for name, field in EnrollmentsStream.schema["properties"].items()
    if field.get("format") == "date-time"
)
#: Enrollments per API page in these tests: the default sandbox spans 10 pages.
PAGE_SIZE = 10
RUN_TIMEOUT_SECONDS = 300
SUMMARY = re.compile(
    r"Sync of 'enrollments' done: (?P<records>\d+) records emitted, "
    r"(?P<pages>\d+) pages read, .*\."
)

Row = tuple[t.Any, ...]


@dataclass(frozen=True)
class MeltanoRun:
    """A finished `meltano` command: its exit status and its log."""

    returncode: int
    log: str

    @property
    def records_emitted(self) -> int:
        """How many records the tap said it emitted, from its summary line."""
        match = SUMMARY.search(self.log)
        assert match, f"no summary line from the tap in:\n{self.log[-3000:]}"
        return int(match["records"])

    def check(self) -> MeltanoRun:
        """Fail the test, showing the end of the log, unless the command succeeded.

        Returns:
            This run.
        """
        assert self.returncode == 0, self.log[-5000:]
        return self


def meltano_environment(tmp_path: Path, sandbox: SandboxServer) -> dict[str, str]:
    """This process's environment for `meltano`, with nothing of it leaking in.

    Settings that Meltano or the plugins would read from the caller's environment
    are dropped; Meltano gets a system directory of its own (`private_system_dir`),
    and the tap is pointed at ``sandbox`` with small pages.
    """
    own = ("TAP_REVIEWROVER", "TARGET_", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    system = private_system_dir(tmp_path)
    return {
        **env,
        "MELTANO_SYS_DIR_ROOT": str(system),
        "MELTANO_DATABASE_URI": f"sqlite:///{system / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The plugins are shared (scripts/install_plugins): never reinstalled here.
        "MELTANO_AUTO_INSTALL": "false",
        "MELTANO_ENVIRONMENT": "dev",
        "TAP_REVIEWROVER_API_URL": sandbox.url,
        "TAP_REVIEWROVER_AUTH_TOKEN": sandbox.token,
        "TAP_REVIEWROVER_PAGE_SIZE": str(PAGE_SIZE),
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "warehouse.duckdb"),
    }


def private_system_dir(tmp_path: Path) -> Path:
    """A `.meltano` of the test's own, sharing only the installed plugins.

    Meltano writes each run's catalog and config files under `.meltano/run`, one
    directory per plugin: two runs of the same plugin at once (another test
    session, a quickstart) would overwrite each other's.

    Args:
        tmp_path: The test's directory.

    Returns:
        The directory, for ``MELTANO_SYS_DIR_ROOT``.
    """
    system = tmp_path / ".meltano"
    system.mkdir(exist_ok=True)
    for kind in ("extractors", "loaders"):
        installed = ROOT / ".meltano" / kind
        assert installed.is_dir(), "no Meltano plugins: run scripts/install_plugins"
        link = system / kind
        if not link.exists():
            link.symlink_to(installed, target_is_directory=True)
    return system


class MeltanoProject:
    """The repository's meltano.yml with this test's state, sandbox and warehouse."""

    def __init__(self, tmp_path: Path, sandbox: SandboxServer, **env: str) -> None:
        """Set up the environment of every command this project runs.

        Args:
            tmp_path: The test's directory: system database, DuckDB file.
            sandbox: The API the tap reads.
            **env: More environment variables, such as loader settings.
        """
        self.tmp_path = tmp_path
        self.sandbox = sandbox
        #: Where the commands run: the repository, or a copy of its meltano.yml
        #: elsewhere (another clone of the project).
        self.root = ROOT
        self.env = {**meltano_environment(tmp_path, sandbox), **env}

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file target-duckdb writes."""
        return Path(self.env["TARGET_DUCKDB_FILEPATH"])

    def meltano(self, *args: str) -> MeltanoRun:
        """Run ``meltano ARGS`` to the end.

        Args:
            *args: The command line after ``meltano``.

        Returns:
            The exit status and the combined output.
        """
        completed = subprocess.run(
            [str(MELTANO), *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
        return MeltanoRun(completed.returncode, completed.stdout)

    def run(self, *blocks: str) -> MeltanoRun:
        """``meltano run BLOCKS``, which must succeed.

        Args:
            *blocks: Plugins and options, such as ``tap-reviewrover``,
                ``target-postgres``.

        Returns:
            The finished run.
        """
        return self.meltano("run", *blocks).check()

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The state Meltano keeps under ``state_id`` (``meltano state get``).

        Args:
            state_id: Such as ``dev:tap-reviewrover-to-target-postgres``.

        Returns:
            The state, ``{"singer_state": {...}}``, or {} when there is none.
        """
        got = self.meltano("state", "get", state_id).check()
        lines = [line for line in got.log.splitlines() if line.startswith("{")]
        return t.cast("dict[str, t.Any]", json.loads(lines[-1])) if lines else {}

    def state_ids(self) -> list[str]:
        """The state ids Meltano holds (``meltano state list``), sorted."""
        listed = self.meltano("state", "list").check()
        return sorted(
            line for line in listed.log.splitlines() if line and " [" not in line
        )

    def run_and_kill(self, *blocks: str, victim: str, page: int) -> MeltanoRun:
        """Start ``meltano run BLOCKS`` and SIGKILL a process of it half-way.

        The sandbox holds the tap's request for ``page`` until the kill is done,
        so the tap has emitted every page before it and nothing after.

        Args:
            *blocks: Plugins of the run.
            victim: The executable to kill (``tap-reviewrover``,
                ``target-postgres``...), or ``meltano`` for the whole run: Meltano
                and every process it started, as when the machine goes down.
            page: The page the tap is waiting for when the kill happens.

        Returns:
            The run, which must have failed.
        """
        reached, release = threading.Event(), threading.Event()

        def hold(requested: int, _: int) -> None:
            if requested == page and not release.is_set():
                reached.set()
                release.wait(timeout=RUN_TIMEOUT_SECONDS)

        self.sandbox.on_list_request(hold)
        with subprocess.Popen(
            [str(MELTANO), "run", *blocks],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ) as process:
            log: list[str] = []
            reader = threading.Thread(
                target=lambda: log.extend(process.stdout or ()), daemon=True
            )
            reader.start()
            try:
                assert reached.wait(RUN_TIMEOUT_SECONDS), f"no request for page {page}"
                if victim == "meltano":
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    kill_descendant(process.pid, victim)
            finally:
                release.set()
            returncode = process.wait(timeout=RUN_TIMEOUT_SECONDS)
            reader.join(timeout=RUN_TIMEOUT_SECONDS)
        run = MeltanoRun(returncode, "".join(log))
        assert run.returncode != 0, run.log[-5000:]
        return run


def postgres_project(
    tmp_path: Path, sandbox: SandboxServer, schema: str, **env: str
) -> MeltanoProject:
    """The Meltano project, loading into a PostgreSQL schema of the test's own.

    Args:
        tmp_path: The test's directory.
        sandbox: The API the tap reads.
        schema: The schema, in the ``test`` database at 127.0.0.1:5432.
        **env: More environment variables.

    Returns:
        The project.
    """
    return MeltanoProject(
        tmp_path,
        sandbox,
        TARGET_POSTGRES_DATABASE="test",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
        **env,
    )


def kill_descendant(pid: int, executable: str) -> None:
    """SIGKILL the one process under ``pid`` that runs ``executable``.

    Args:
        pid: The ancestor (Meltano).
        executable: The name of the plugin's executable, such as
            ``target-postgres``.
    """
    matches = [
        child
        for child in psutil.Process(pid).children(recursive=True)
        if any(Path(part).name == executable for part in child.cmdline()[:2])
    ]
    assert len(matches) == 1, f"expected one {executable} process, got {matches}"
    matches[0].kill()


def api_rows(store: EnrollmentStore) -> list[Row]:
    """The enrollments the API holds, as warehouse rows: typed, ordered by id.

    Args:
        store: The data behind the API.

    Returns:
        One tuple of `COLUMNS` per enrollment.
    """
    records = sorted(store.all_records(), key=lambda record: record["id"])
    return [
        tuple(
            as_timestamp(record[column])
            if column in TIMESTAMP_COLUMNS
            else record[column]
            for column in COLUMNS
        )
        for record in records
    ]


def as_timestamp(text: str) -> dt.datetime:
    """The API's ``2025-02-17T02:00:34Z`` as the naive UTC datetime a table holds.

    Args:
        text: A timestamp as the API renders it.

    Returns:
        The same instant, naive, in UTC.
    """
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def postgres_rows(
    connection: psycopg.Connection[Row], schema: str, where: str = "true"
) -> list[Row]:
    """The loaded enrollments in a PostgreSQL schema, ordered by id.

    Args:
        connection: A connection to the database the tests load.
        schema: The test's schema.
        where: An SQL condition on the rows, such as
            ``_sdc_deleted_at is null``.

    Returns:
        One tuple of `COLUMNS` per row.
    """
    query = (
        f"select {', '.join(COLUMNS)} from {schema}.enrollments"  # noqa: S608 - test's own names
        f" where {where} order by id"
    )
    return connection.execute(query).fetchall()


def duckdb_rows(path: Path, schema: str = "reviewrover") -> list[Row]:
    """The loaded enrollments in a DuckDB file, ordered by id.

    Args:
        path: The database file.
        schema: The schema target-duckdb loaded into.

    Returns:
        One tuple of `COLUMNS` per row.
    """
    with duckdb.connect(str(path), read_only=True) as database:
        query = f"select {', '.join(COLUMNS)} from {schema}.enrollments order by id"  # noqa: S608 - own names
        return database.execute(query).fetchall()


def changed_rows(before: list[Row], after: list[Row]) -> Iterator[int]:
    """The ids whose row differs between two snapshots, or is in only one.

    Args:
        before: Rows keyed by their first column.
        after: Rows keyed by their first column.

    Yields:
        The ids, in ascending order.
    """
    old, new = {row[0]: row for row in before}, {row[0]: row for row in after}
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            yield key
