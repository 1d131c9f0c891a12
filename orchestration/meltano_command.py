"""Run one ``meltano`` command from a Dagster op, as a failed or a cancelled run needs.

- Its output goes to the step's stderr (Dagster's captured logs); Meltano's
  warnings and errors and the tap's summary line also go to the run's log.
- A command that fails raises ``dagster.Failure`` whose description is the failed
  plugin's last line: the tap prints its error as one line, last, on stderr.
- A cancelled run (Dagster interrupts the op) sends Meltano SIGTERM, as ``kill``
  would: Meltano stops its plugins, marks its run failed and keeps the previous
  state. Whatever still runs after ``STOP_GRACE_SECONDS`` is killed.
- Each command gets a Meltano system directory of its own that shares the
  project's installed plugins and system database (state): Meltano writes a
  plugin's state file and catalog to ``.meltano/run/<plugin>/``, so two runs of
  one extractor at once (two campaign groups, a backfill beside the schedule)
  would otherwise hand each other's state to their taps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from meltano.core.plugin.base import PluginType

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from orchestration.meltano_project import MeltanoProject

#: How long Meltano gets to stop its plugins after SIGTERM before all are killed.
STOP_GRACE_SECONDS = 60
#: One line of Meltano's console log: time, level, source (``meltano`` or a
#: plugin's name), message.
LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<source>\S+)\s+(?P<message>.*)$")
#: The tap's last line of a sync (see the README).
SUMMARY = re.compile(r"^Sync of '.+' done: ")
#: What Meltano logs when a block fails, and which plugin of the task that was.
FAILED_PLUGIN = {"Extractor failed": 0, "Loader failed": -1}


@dataclass
class MeltanoLog:
    """What a ``meltano run`` printed: each plugin's last line, and the last line."""

    tasks: tuple[str, ...] = ()
    last_line: str = ""
    last_line_of: dict[str, str] = field(default_factory=dict)
    failed_plugin: str | None = None
    meltano_error: str = ""

    def add(self, line: str) -> None:
        """Take in one line.

        Args:
            line: The line, without its end of line.
        """
        if line.strip():  # a traceback's box ends in blank lines
            self.last_line = line
        match = LOG_LINE.match(line)
        if match is None:
            return
        source, message = match["source"], match["message"]
        if source == "meltano" and match["level"] in {"error", "critical"}:
            self.meltano_error = line
        if source != "meltano":
            # Kept in the order plugins last spoke: the last is the newest.
            self.last_line_of.pop(source, None)
            self.last_line_of[source] = message
        elif message in FAILED_PLUGIN and self.tasks:
            self.failed_plugin = self.tasks[0].split()[FAILED_PLUGIN[message]]

    @staticmethod
    def level_for_run_log(line: str) -> str | None:
        """The level at which a line also goes to the run's log, if it does.

        Args:
            line: A line of Meltano's output.

        Returns:
            ``"info"``, ``"warning"`` or ``"error"``, or None to keep it in the
            captured output only.
        """
        match = LOG_LINE.match(line)
        if match is None:
            return None
        if match["level"] in {"warning", "error", "critical"}:
            return "error" if match["level"] == "critical" else match["level"]
        return "info" if SUMMARY.match(match["message"]) else None

    def error_line(self) -> str:
        """The line that says why the command failed, as best it can be told.

        The failed plugin's last line (Meltano says which failed); else the last
        line of any plugin; else Meltano's own last error (a system database it
        cannot open, a job it cannot find); else its last line.

        Returns:
            ``plugin: message``, or a line of Meltano's.
        """
        if self.failed_plugin and self.failed_plugin in self.last_line_of:
            return f"{self.failed_plugin}: {self.last_line_of[self.failed_plugin]}"
        if self.last_line_of:
            plugin, message = list(self.last_line_of.items())[-1]
            return f"{plugin}: {message}"
        return self.meltano_error or self.last_line or "(no output)"


@contextmanager
def private_system_dir(
    project: MeltanoProject, env: Mapping[str, str]
) -> Iterator[Path]:
    """A temporary ``.meltano`` sharing the project's installed plugins.

    Args:
        project: The project whose plugins to use.
        env: The variables the command runs with (``MELTANO_SYS_DIR_ROOT``).

    Yields:
        The directory; removed afterwards.
    """
    shared = Path(env.get("MELTANO_SYS_DIR_ROOT") or project.root / ".meltano")
    with tempfile.TemporaryDirectory(prefix="meltano-run-") as directory:
        private = Path(directory)
        for kind in list(PluginType):  # extractors, loaders, ...
            installed = shared / str(kind)
            if installed.is_dir():
                (private / str(kind)).symlink_to(installed, target_is_directory=True)
        yield private


def meltano_executable() -> str:
    """The ``meltano`` installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).with_name("meltano")
    return str(beside) if beside.exists() else "meltano"


def command_env(
    project: MeltanoProject, extra: Mapping[str, str], system_dir: Path
) -> dict[str, str]:
    """The environment of one command: this process's, ``extra``, and its own dirs.

    Args:
        project: The Meltano project.
        extra: Variables of the schedule or the run's config; they win.
        system_dir: The command's own system directory.

    Returns:
        The variables.
    """
    env = {**os.environ, **extra}
    shared = Path(env.get("MELTANO_SYS_DIR_ROOT") or project.root / ".meltano")
    return {
        **env,
        "MELTANO_PROJECT_ROOT": str(project.root),
        "MELTANO_SYS_DIR_ROOT": str(system_dir),
        # The state lives here; without a URI, Meltano's default file.
        "MELTANO_DATABASE_URI": env.get("MELTANO_DATABASE_URI")
        or f"sqlite:///{shared / 'meltano.db'}",
    }


def stop(process: subprocess.Popen[str], log: MeltanoLog) -> None:
    """Stop Meltano as ``kill`` would, then anything left of it.

    Args:
        process: The ``meltano`` process, leader of its own process group.
        log: Where the output printed while it stops goes.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            rest, _ = process.communicate(timeout=STOP_GRACE_SECONDS)
            for line in rest.splitlines():
                log.add(line)
                print(line, file=sys.stderr, flush=True)  # noqa: T201 - captured log
    with suppress(ProcessLookupError):  # nothing left in the group
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_meltano(
    context: dg.OpExecutionContext,
    project: MeltanoProject,
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    tasks: tuple[str, ...] = (),
) -> MeltanoLog:
    """Run ``meltano ARGS`` from the project's root to the end.

    Args:
        context: The op's context: its log.
        project: The Meltano project.
        args: The command line after ``meltano``, such as ``["run", "JOB"]``.
        env: More variables, such as a schedule's.
        tasks: The tasks the command runs (to tell which plugin failed).

    Returns:
        The command's output.

    Raises:
        Failure: The command exited with another status than 0.
    """
    command = [meltano_executable(), *args]
    log = MeltanoLog(tasks)
    shown = " ".join(args)
    context.log.info("Running: meltano %s", shown)
    with (
        private_system_dir(project, {**os.environ, **(env or {})}) as system_dir,
        subprocess.Popen(  # noqa: S603 - meltano, with the op's own arguments
            command,
            cwd=project.root,
            env=command_env(project, env or {}, system_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own group: a Ctrl-C in the terminal reaches Dagster only, and
            # Dagster's cancellation decides how Meltano stops.
            start_new_session=True,
        ) as process,
    ):
        try:
            for raw in process.stdout or ():
                line = raw.rstrip("\n")
                log.add(line)
                print(line, file=sys.stderr, flush=True)  # noqa: T201 - captured log
                level = log.level_for_run_log(line)
                if level is not None:
                    getattr(context.log, level)(line)
            returncode = process.wait()
        except BaseException:  # cancelled (DagsterExecutionInterruptedError)
            context.log.warning("Interrupted: stopping Meltano (SIGTERM)")
            stop(process, log)
            context.log.warning("Meltano stopped, exit status %s", process.returncode)
            raise
    if returncode != 0:
        error = log.error_line()
        context.log.error(error)
        raise dg.Failure(
            description=f"meltano {shown} failed (exit status {returncode}): {error}",
            metadata={"exit_status": returncode, "error": error},
        )
    return log
