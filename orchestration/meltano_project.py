"""The jobs and schedules of meltano.yml, read from the file as Meltano reads them.

meltano.yml is the one source of truth: the Dagster schedules are derived from its
``schedules`` (tests compare them with ``meltano schedule list --format=json``).
Reading the file, rather than asking ``meltano schedule list``, keeps loading the
code location free of side effects: that command opens (and migrates) Meltano's
system database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from meltano.core.schedule import CRON_INTERVALS

#: The repository root, where meltano.yml is, unless MELTANO_PROJECT_ROOT says.
DEFAULT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class MeltanoJob:
    """A named list of ``meltano run`` tasks."""

    name: str
    tasks: tuple[str, ...]

    @property
    def loaders(self) -> tuple[str, ...]:
        """The loader of each task: its last plugin, such as ``target-postgres``."""
        return tuple(task.split()[-1] for task in self.tasks)

    @property
    def extractors(self) -> tuple[str, ...]:
        """The extractor of each task: its first plugin."""
        return tuple(task.split()[0] for task in self.tasks)


@dataclass(frozen=True)
class MeltanoSchedule:
    """A schedule of meltano.yml: which job, when, with which variables."""

    name: str
    job: str
    interval: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cron(self) -> str | None:
        """The interval as a cron expression; None for ``@once``/``@manual``."""
        if self.interval in CRON_INTERVALS:
            return CRON_INTERVALS[self.interval]
        return self.interval


@dataclass(frozen=True)
class MeltanoProject:
    """A Meltano project directory and the jobs and schedules it defines."""

    root: Path
    jobs: dict[str, MeltanoJob]
    schedules: tuple[MeltanoSchedule, ...]

    @classmethod
    def load(cls, root: Path | None = None) -> MeltanoProject:
        """Read meltano.yml.

        Args:
            root: The project directory; by default MELTANO_PROJECT_ROOT, or
                the directory above this package.

        Returns:
            The project.
        """
        root = root or Path(os.environ.get("MELTANO_PROJECT_ROOT") or DEFAULT_ROOT)
        document = yaml.safe_load((root / "meltano.yml").read_text()) or {}
        jobs = {
            entry["name"]: MeltanoJob(entry["name"], tuple(entry["tasks"]))
            for entry in document.get("jobs") or []
        }
        schedules = tuple(
            MeltanoSchedule(
                name=entry["name"],
                job=entry["job"],
                interval=str(entry["interval"]),
                env={
                    key: str(value) for key, value in (entry.get("env") or {}).items()
                },
            )
            for entry in document.get("schedules") or []
            if "job" in entry  # legacy `elt` schedules are not run here
        )
        return cls(root.resolve(), jobs, schedules)


def dagster_name(meltano_name: str) -> str:
    """A Meltano name as a Dagster name, which allows only letters, digits and ``_``.

    Args:
        meltano_name: Such as ``postgres-incremental-sync``.

    Returns:
        Such as ``postgres_incremental_sync``.
    """
    return re.sub(r"\W", "_", meltano_name, flags=re.ASCII)
