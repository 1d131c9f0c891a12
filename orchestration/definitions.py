"""The Dagster definitions: ``dagster dev -m orchestration.definitions``.

- One job per Meltano job of meltano.yml (``postgres-incremental-sync`` becomes
  ``postgres_incremental_sync``), whose one op runs ``meltano run JOB``. Its config
  can give the run a state of its own (``state_id_suffix``, for backfills), a full
  refresh, or more variables (``env``, such as ``TAP_REVIEWROVER_START_DATE``).
- One schedule per Meltano schedule, on the same cron, in UTC, with the schedule's
  ``env``. They start stopped: turn them on in the UI or with
  ``dagster schedule start``.
- ``postgres_incremental_sync_by_campaign``: groups of campaigns synced in
  parallel (multiprocess executor), each group with its own state.
"""

# No `from __future__ import annotations`: Dagster reads the ops' annotations
# (config classes, inputs) at run time.
import json
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from orchestration.meltano_command import run_meltano
from orchestration.meltano_project import MeltanoJob, MeltanoProject, dagster_name

#: The Meltano job that the campaign groups run, each with its own state.
BY_CAMPAIGN_JOB = "postgres-incremental-sync"
#: Tag naming the loader of a run's job, such as ``target-postgres``: a
#: ``tag_concurrency_limits`` entry on it keeps one run per warehouse at a time.
LOADER_TAG = "reviewrover/loader"


class MeltanoRunConfig(dg.Config):
    """How one run of a Meltano job differs from the scheduled one."""

    state_id_suffix: str = Field(
        default="",
        description=(
            "Give this run a state of its own (`meltano run --state-id-suffix`): "
            "a backfill then leaves the scheduled job's state as it was."
        ),
    )
    full_refresh: bool = Field(
        default=False,
        description="Ignore the saved state and read everything (`--full-refresh`).",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "More environment variables for Meltano, such as "
            "TAP_REVIEWROVER_START_DATE or MELTANO_ENVIRONMENT."
        ),
    )

    def run_options(self) -> list[str]:
        """The ``meltano run`` options this config asks for."""
        options = ["--state-id-suffix", self.state_id_suffix] * bool(
            self.state_id_suffix
        )
        return options + ["--full-refresh"] * self.full_refresh


class CampaignGroupsConfig(dg.Config):
    """The campaign groups of a by-campaign run."""

    groups: dict[str, list[str]] = Field(
        description=(
            "Campaign ids per group. A group's name (letters, digits, _) is its "
            "state id suffix: keep it for the group's next runs."
        ),
    )


def op_name(job: MeltanoJob) -> str:
    """The name of the op that runs a Meltano job (unique in the code location)."""
    return f"meltano_run_{dagster_name(job.name)}"


def job_tags(job: MeltanoJob) -> dict[str, str]:
    """The run tags of a Meltano job's runs: its loader."""
    return {LOADER_TAG: ",".join(sorted(set(job.loaders)))}


def meltano_job(project: MeltanoProject, job: MeltanoJob) -> dg.JobDefinition:
    """The Dagster job that runs one Meltano job.

    Args:
        project: The Meltano project.
        job: The job.

    Returns:
        The Dagster job, named as the Meltano one with ``_`` for ``-``.
    """

    @dg.op(
        name=op_name(job),
        description=f"`meltano run {job.name}`: {'; '.join(job.tasks)}",
        tags={"kind": "meltano"},
    )
    def run_job(context: dg.OpExecutionContext, config: MeltanoRunConfig) -> None:
        run_meltano(
            context,
            project,
            ["run", *config.run_options(), job.name],
            env=config.env,
            tasks=job.tasks,
        )

    @dg.job(
        name=dagster_name(job.name),
        description=f"Meltano job `{job.name}` of meltano.yml.",
        tags=job_tags(job),
    )
    def dagster_job() -> None:
        run_job()

    return dagster_job


def by_campaign_job(project: MeltanoProject, job: MeltanoJob) -> dg.JobDefinition:
    """A job that runs a Meltano job once per campaign group, in parallel.

    Args:
        project: The Meltano project.
        job: The incremental job each group runs.

    Returns:
        The Dagster job.
    """

    @dg.op(out=dg.DynamicOut(list))
    def campaign_groups(
        context: dg.OpExecutionContext, config: CampaignGroupsConfig
    ) -> Iterator[dg.DynamicOutput[list[str]]]:
        """One output per group: its campaign ids, once the system database is ready.

        Meltano creates or migrates its system database as a command starts: two
        groups starting at once on a new one (a container's first run) both try,
        and one fails ("table job already exists"). It is done once, here.
        """
        run_meltano(context, project, ["upgrade", "database"])
        for name, campaign_ids in config.groups.items():
            yield dg.DynamicOutput(campaign_ids, mapping_key=name)

    @dg.op(tags={"kind": "meltano"})
    def sync_campaign_group(
        context: dg.OpExecutionContext, campaign_ids: list[str]
    ) -> None:
        """``meltano run --state-id-suffix GROUP JOB`` for the group's campaigns."""
        group = context.get_mapping_key()
        if group is None:  # pragma: no cover - always mapped in the job below
            message = "sync_campaign_group runs only mapped over campaign_groups"
            raise dg.Failure(message)
        run_meltano(
            context,
            project,
            ["run", "--state-id-suffix", group, job.name],
            env={"TAP_REVIEWROVER_CAMPAIGN_IDS": json.dumps(campaign_ids)},
            tasks=job.tasks,
        )

    @dg.job(
        name=f"{dagster_name(job.name)}_by_campaign",
        description=(
            f"Meltano job `{job.name}` once per group of campaigns, in parallel, "
            "each group with its own state (`--state-id-suffix GROUP`)."
        ),
        tags=job_tags(job),
    )
    def dagster_job() -> None:
        campaign_groups().map(sync_campaign_group)

    return dagster_job


def build_definitions(project: MeltanoProject) -> dg.Definitions:
    """The jobs and schedules of a Meltano project.

    Args:
        project: The project (its meltano.yml).

    Returns:
        The definitions.
    """
    jobs = {name: meltano_job(project, job) for name, job in project.jobs.items()}
    schedules = [
        dg.ScheduleDefinition(
            name=dagster_name(schedule.name),
            cron_schedule=schedule.cron,
            job=jobs[schedule.job],
            execution_timezone="UTC",
            run_config={
                "ops": {
                    op_name(project.jobs[schedule.job]): {
                        "config": {"env": schedule.env}
                    }
                }
            },
            description=f"Meltano schedule `{schedule.name}` ({schedule.interval}).",
        )
        for schedule in project.schedules
        if schedule.cron is not None
    ]
    return dg.Definitions(
        jobs=[*jobs.values(), by_campaign_job(project, project.jobs[BY_CAMPAIGN_JOB])],
        schedules=schedules,
        executor=dg.multiprocess_executor,
    )


defs = build_definitions(MeltanoProject.load())
