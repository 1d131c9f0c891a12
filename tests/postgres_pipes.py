"""Taps piped into target-postgres by the test, as `meltano run` pipes them.

`meltano run tap target` starts both and connects the tap's stdout to the
target's stdin. These helpers do the same with the tap's own command line and the
target-postgres that `scripts/install_plugins` put in `.meltano/` (the loader
meltano.yml pins, with the settings meltano.yml gives it), into a PostgreSQL
schema of the test's own. The test sits on the pipe: it sees every message, can
hold the ACTIVATE_VERSION back, and knows when the target has committed a batch,
so that it decides exactly when each sync's rows land relative to another's.

Nothing here waits for time to pass: every wait is for an event (a process that
ends, a line that arrives), with a timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import TOKEN, clean_env, tap_command
from tests.tap_started_at import STARTED_AT

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import psycopg

ROOT = Path(__file__).parent.parent
TARGET_POSTGRES = ROOT.joinpath(
    ".meltano", "loaders", "target-postgres", "venv", "bin", "target-postgres"
)
#: Turns a hang into a failure; nothing waits this long when all is well.
TIMEOUT_SECONDS = 120
#: The line target-postgres logs once a batch is committed (the SDK's timer).
BATCH_COMMITTED = '"metric":"batch_processing_time"'

Message = dict[str, t.Any]


def loader_config(schema: str, **overrides: t.Any) -> dict[str, t.Any]:
    """target-postgres's settings from meltano.yml, loading into ``schema``.

    Args:
        schema: The test's schema, in the ``test`` database at 127.0.0.1:5432.
        **overrides: Settings to change, such as ``hard_delete=False``.

    Returns:
        The target's config.
    """
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (loader,) = (
        plugin
        for plugin in project["plugins"]["loaders"]
        if plugin["name"] == "target-postgres"
    )
    connection = {
        "host": "127.0.0.1",
        "port": 5432,
        "user": "postgres",
        "password": "postgres",  # trust auth: the target insists on one
        "database": "test",
    }
    return {
        **loader["config"],
        **connection,
        "default_target_schema": schema,
        **overrides,
    }


class Target:
    """A target-postgres process the test feeds, message by message."""

    def __init__(self, workdir: Path, config: dict[str, t.Any]) -> None:
        """Start the target; it waits for messages on its stdin.

        Args:
            workdir: A directory of this target's own (its config file).
            config: Its settings (:func:`loader_config`).
        """
        assert TARGET_POSTGRES.exists(), (
            "no target-postgres in .meltano/: run scripts/install_plugins"
        )
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "target.json"
        config_path.write_text(json.dumps(config))
        self.log: list[str] = []
        self.output: list[str] = []
        self.commits = 0
        self._changed = threading.Condition()
        self._ended = False
        self.process = subprocess.Popen(
            [str(TARGET_POSTGRES), "--config", str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workdir,
            env=clean_env(),
        )
        self._readers = [
            threading.Thread(target=self._read_log, daemon=True),
            threading.Thread(target=self._read_output, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def send(self, messages: Iterable[Message]) -> None:
        """Write messages to the target's stdin.

        Args:
            messages: Singer messages.
        """
        stdin = self.process.stdin
        assert stdin is not None
        try:
            for message in messages:
                stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except BrokenPipeError:
            pass  # the target ended early: check() shows why

    def wait_for_commits(self, count: int) -> None:
        """Wait until the target has committed ``count`` batches in all.

        Args:
            count: Batches committed since the target started.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: self.commits >= count or self._ended, timeout=TIMEOUT_SECONDS
            )
        assert self.commits >= count, (
            f"target-postgres committed {self.commits} of {count} batches:\n"
            + "".join(self.log[-30:])
        )

    def finish(self) -> int:
        """Close the target's stdin and wait until it has loaded and ended.

        Returns:
            Its exit status.
        """
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        returncode = self.process.wait(timeout=TIMEOUT_SECONDS)
        for reader in self._readers:
            reader.join(timeout=TIMEOUT_SECONDS)
        close_pipes(self.process)
        return returncode

    def kill(self) -> None:
        """End the target at once, if it still runs, and close its pipes."""
        if self.process.returncode is None:
            self.process.kill()
            self.finish()

    def check(self) -> None:
        """Finish, and fail the test unless the target loaded without an error."""
        returncode = self.finish()
        assert returncode == 0, "".join(self.log[-40:])

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """The states the target wrote (what Meltano would save), in order."""
        return [json.loads(line) for line in self.output if line.strip()]

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.log.append(line)
                if BATCH_COMMITTED in line and '"status":"succeeded"' in line:
                    self.commits += 1
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        self.output.extend(self.process.stdout)


@dataclass
class TapRun:
    """A tap process whose messages go through the test on their way to a target.

    Every message is kept (``messages``) and, if a target is given, forwarded to
    it as it arrives, except that with ``hold_activation`` the first
    ACTIVATE_VERSION and everything after it wait in ``held`` for
    :meth:`release`.

    Attributes:
        workdir: A directory of this run's own (config, catalog and state files).
        config: The tap's settings.
        catalog: The catalog, if any (a FULL_TABLE one for a copy).
        state: The state to start from, if any.
        started_at: The sync's start, epoch seconds (its table version); None:
            the real clock, through the real ``tap-reviewrover`` command.
        target: Where the messages go, if anywhere.
        hold_activation: Hold ACTIVATE_VERSION, and what follows, back.
        tap_class: ``module:Class``: run this subclass of the tap instead (its
            own command line, through ``tap_reviewrover.cli.main``).
        args: More command-line arguments, such as ``--test``.
    """

    workdir: Path
    config: dict[str, t.Any]
    catalog: dict[str, t.Any] | None = None
    state: dict[str, t.Any] | None = None
    started_at: int | None = None
    target: Target | None = None
    hold_activation: bool = False
    tap_class: str | None = None
    args: tuple[str, ...] = ()
    messages: list[Message] = field(default_factory=list, init=False)
    held: list[Message] = field(default_factory=list, init=False)
    stderr: str = field(default="", init=False)
    returncode: int | None = field(default=None, init=False)

    def start(self) -> TapRun:
        """Start the tap.

        Returns:
            This run.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [*self.args, "--config", self._write("config.json", self.config)]
        if self.catalog is not None:
            args += ["--catalog", self._write("catalog.json", self.catalog)]
        if self.state is not None:
            args += ["--state", self._write("state.json", self.state)]
        env = clean_env()
        if self.tap_class is not None:
            module, name = self.tap_class.split(":")
            code = f"from {module} import {name}; from tap_reviewrover import cli; "
            command = [sys.executable, "-c", f"{code}cli.main({name})", *args]
        elif self.started_at is None:
            command = tap_command(*args)
        else:
            command = [sys.executable, "-m", "tests.tap_started_at", *args]
        if self.started_at is not None:
            env[STARTED_AT] = str(self.started_at)
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self._relay = threading.Thread(target=self._forward, daemon=True)
        self._relay.start()
        self._log = threading.Thread(target=self._read_log, daemon=True)
        self._log.start()
        return self

    def wait(self) -> int:
        """Wait until the tap has ended and all it wrote went through.

        Returns:
            Its exit status.
        """
        self.returncode = self._process.wait(timeout=TIMEOUT_SECONDS)
        self._relay.join(timeout=TIMEOUT_SECONDS)
        self._log.join(timeout=TIMEOUT_SECONDS)
        close_pipes(self._process)
        output = self.stderr + "".join(map(json.dumps, self.messages))
        assert TOKEN not in output, "the API token shows in the tap's output"
        return self.returncode

    def release(self) -> None:
        """Send the held messages (ACTIVATE_VERSION on) to the target."""
        assert self.target is not None
        self.target.send(self.held)

    def kill(self) -> None:
        """End the tap at once, if it was started and still runs."""
        if hasattr(self, "_process") and self.returncode is None:
            self._process.kill()
            self.wait()

    def signal(self, signum: int) -> None:
        """Send the tap a signal.

        Args:
            signum: Such as ``signal.SIGTERM``.
        """
        self._process.send_signal(signum)

    @property
    def records(self) -> list[dict[str, t.Any]]:
        """The records the tap wrote, in order."""
        return [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """The values of the STATE messages the tap wrote, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def activations(self) -> list[Message]:
        """The ACTIVATE_VERSION messages the tap wrote."""
        return [m for m in self.messages if m["type"] == "ACTIVATE_VERSION"]

    @property
    def error_lines(self) -> list[str]:
        """The lines the tap logged at ERROR level."""
        return [line for line in self.stderr.splitlines() if "| ERROR" in line]

    def _write(self, name: str, content: dict[str, t.Any]) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(content))
        return str(path)

    def _forward(self) -> None:
        assert self._process.stdout is not None
        holding = False
        for line in self._process.stdout:
            if not line.endswith("\n"):
                break  # a half-written line from a killed tap reaches no target
            message = json.loads(line)
            self.messages.append(message)
            holding = holding or (
                self.hold_activation and message["type"] == "ACTIVATE_VERSION"
            )
            if holding:
                self.held.append(message)
            elif self.target is not None:
                self.target.send([message])

    def _read_log(self) -> None:
        assert self._process.stderr is not None
        self.stderr = self._process.stderr.read()


def close_pipes(process: subprocess.Popen[str]) -> None:
    """Close a finished process's pipes (their readers are done).

    Args:
        process: The process.
    """
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None and not pipe.closed:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def table_ids(
    connection: psycopg.Connection[tuple[t.Any, ...]],
    schema: str,
    where: str = "true",
) -> set[int]:
    """The ids of the enrollments table's rows (that match ``where``).

    Args:
        connection: A connection to the `test` database.
        schema: The test's schema.
        where: An SQL condition, such as ``_sdc_deleted_at is null``.

    Returns:
        The ids.
    """
    query = f"select id from {schema}.enrollments where {where}"  # noqa: S608 - own names
    return {row[0] for row in connection.execute(query).fetchall()}


@dataclass
class Load:
    """A finished ``tap | target-postgres``.

    Attributes:
        tap: The tap's run: its messages, log and exit status.
        target: The target, ended.
        target_returncode: The target's exit status.
    """

    tap: TapRun
    target: Target
    target_returncode: int


@dataclass
class Warehouse:
    """A test's own schema, loaded by target-postgres with meltano.yml's settings.

    Attributes:
        tmp_path: The test's directory (each run gets a directory in it).
        schema: The schema, dropped after the test (the ``schema`` fixture).
        connection: A connection to the `test` database.
        settings: Loader settings that differ from meltano.yml's.
    """

    tmp_path: Path
    schema: str
    connection: psycopg.Connection[tuple[t.Any, ...]]
    settings: dict[str, t.Any] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)
    _started: list[Target | TapRun] = field(default_factory=list)

    def workdir(self, name: str) -> Path:
        """A new directory for one process of the test.

        Args:
            name: What runs there, such as ``copy``.

        Returns:
            The directory, ``NN-name``.
        """
        return self.tmp_path / f"{next(self._numbers):02d}-{name}"

    def target(self, **settings: t.Any) -> Target:
        """Start a target-postgres loading into the schema.

        Args:
            **settings: Loader settings for this one, such as ``batch_size_rows``.

        Returns:
            The target, waiting for messages.
        """
        config = loader_config(self.schema, **{**self.settings, **settings})
        target = Target(self.workdir("target"), config)
        self._started.append(target)
        return target

    def tap(self, config: dict[str, t.Any], **options: t.Any) -> TapRun:
        """A tap run (not started) in a directory of its own.

        Args:
            config: The tap's settings.
            **options: The other fields of :class:`TapRun`.

        Returns:
            The run.
        """
        tap = TapRun(self.workdir("tap"), config, **options)
        self._started.append(tap)
        return tap

    def load(self, config: dict[str, t.Any], **options: t.Any) -> Load:
        """Run ``tap | target-postgres`` to the end.

        Args:
            config: The tap's settings.
            **options: ``catalog``, ``state`` or ``started_at`` for the tap.

        Returns:
            What both did.
        """
        target = self.target()
        tap = self.tap(config, target=target, **options).start()
        tap.wait()
        return Load(tap, target, target.finish())

    def close(self) -> None:
        """End every process of the test still running (a test that failed)."""
        for process in self._started:
            process.kill()

    def ids(self, where: str = "true") -> set[int]:
        """The ids of the rows in the table (that match ``where``).

        Args:
            where: An SQL condition.

        Returns:
            The ids.
        """
        return table_ids(self.connection, self.schema, where)

    def versions(self) -> dict[int, int | None]:
        """Each row's table version (``_sdc_table_version``), by id."""
        query = f"select id, _sdc_table_version from {self.schema}.enrollments"  # noqa: S608 - own names
        return dict(self.connection.execute(query).fetchall())
