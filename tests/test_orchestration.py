"""End to end: the Dagster code location in orchestration/ runs meltano.yml's jobs.

Jobs run in this process (``execute_in_process``) or, where processes matter
(parallel campaign groups, cancellation), with ``dagster job execute`` and its
multiprocess executor. Meltano gets this test's environment: its own system
database, sandbox API and PostgreSQL schema.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import typing as t

import dagster as dg
import pytest
import yaml

from orchestration.definitions import defs
from tests.meltano_project import (
    ROOT,
    RUN_TIMEOUT_SECONDS,
    MeltanoProject,
    api_rows,
    postgres_project,
    postgres_rows,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import psycopg
    from reviewrover_sandbox import SandboxServer

    from tests.meltano_project import Row

DAGSTER = [str(ROOT / ".venv" / "bin" / "dagster")]
INCREMENTAL_STATE = "dev:tap-reviewrover-to-target-postgres"
#: Variables of the developer's shell that Dagster or Meltano would read.
FOREIGN_PREFIXES = ("TAP_REVIEWROVER", "TARGET_", "MELTANO_", "DAGSTER_")

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, schema: str) -> MeltanoProject:
    """The Meltano project, loading into this test's schema."""
    return postgres_project(tmp_path, sandbox, schema)


@pytest.fixture
def deployment(
    project: MeltanoProject, monkeypatch: pytest.MonkeyPatch
) -> MeltanoProject:
    """This process's environment as a Dagster deployment's: the project's."""
    for name in os.environ:
        if name.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(name)
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    return project


def execute(
    job: str, run_config: dict[str, t.Any] | None = None
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """Run a job of the code location in this process.

    Args:
        job: The job's name.
        run_config: The run's config.

    Returns:
        The result, and the messages of the run's log, in order.
    """
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.get_job_def(job).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
        entries = instance.all_logs(result.run_id)
    return result, [entry.user_message for entry in entries]


def dagster_env(project: MeltanoProject) -> dict[str, str]:
    """The environment of a ``dagster`` command: the project's, a Dagster home."""
    home = project.tmp_path / "dagster-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in project.env.items() if not k.startswith("DAGSTER_")}
    return {**env, "DAGSTER_HOME": str(home)}


def execute_command(job: str, config: Path) -> list[str]:
    """The ``dagster job execute`` command line of a job of the code location."""
    return [
        *DAGSTER,
        "job",
        "execute",
        "-m",
        "orchestration.definitions",
        "-j",
        job,
        "-c",
        str(config),
    ]


def test_the_schedules_are_meltanos_schedules(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    listed = MeltanoProject(tmp_path, sandbox).meltano(
        "schedule", "list", "--format=json"
    )
    meltano = json.loads(listed.check().log[listed.log.index("{") :])
    expected = {
        entry["name"].replace("-", "_"): (
            entry["cron_interval"],
            entry["job"]["name"].replace("-", "_"),
            entry["env"],
        )
        for entry in meltano["schedules"]["job"]
    }
    repository = defs.get_repository_def()
    dagster = {}
    for schedule in repository.schedule_defs:
        tick = schedule.evaluate_tick(dg.build_schedule_context())
        (request,) = tick.run_requests or []
        (op_config,) = request.run_config["ops"].values()
        assert schedule.execution_timezone == "UTC"
        dagster[schedule.name] = (
            schedule.cron_schedule,
            schedule.job_name,
            op_config["config"]["env"],
        )
    assert dagster == expected
    jobs = repository.get_all_jobs()
    assert {job.name for job in jobs} == {
        *(name for _, name, _ in expected.values()),
        "postgres_incremental_sync_by_campaign",
    }
    # orchestration/dagster.yaml allows one run per loader at a time.
    loaders = {job.name: job.tags["reviewrover/loader"] for job in jobs}
    assert loaders == {
        name: "target-duckdb" if name.startswith("duckdb") else "target-postgres"
        for name in loaders
    }


def test_a_dagster_run_syncs_the_api_into_postgres_and_logs_the_summary(
    deployment: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    result, log = execute("postgres_incremental_sync")
    assert result.success
    assert postgres_rows(postgres, schema) == api_rows(deployment.sandbox.store)
    summary = f"Sync of 'enrollments' done: {len(deployment.sandbox.store)} records"
    assert any(summary in message for message in log)

    deployment.sandbox.store.create("camp_new", "cont_after_the_first_run")
    again, log = execute("postgres_incremental_sync")
    assert again.success
    assert any("Sync of 'enrollments' done: 1 records" in message for message in log)
    assert postgres_rows(postgres, schema) == api_rows(deployment.sandbox.store)
    assert deployment.state_ids() == [INCREMENTAL_STATE]


@pytest.mark.usefixtures("deployment")
def test_a_failed_sync_fails_the_run_with_the_taps_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAP_REVIEWROVER_AUTH_TOKEN", "rr-revoked-token-77a1")
    result, log = execute("postgres_incremental_sync")
    assert not result.success
    line = (
        "tap-reviewrover: ReviewRover rejected the API token (HTTP 401: Invalid or "
        "missing API token). Check the auth_token setting (or "
        "TAP_REVIEWROVER_AUTH_TOKEN)."
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    assert error.message.rstrip().endswith(
        f"postgres-incremental-sync failed (exit status 1): {line}"
    )
    assert line in log
    assert not any("rr-revoked-token-77a1" in message for message in log)


@pytest.mark.usefixtures("deployment")
def test_a_warehouse_that_cannot_be_reached_fails_the_run_naming_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with contextlib.closing(socket.socket()) as closed:  # bound, never listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("TARGET_POSTGRES_PORT", str(port))
        result, log = execute("postgres_incremental_sync")
    assert not result.success
    line = (
        f"target-postgres: Cannot reach the warehouse at 127.0.0.1:{port} "
        "(Connection refused): check that it is up and that the loader's host and "
        "port settings point at it."
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    assert error.message.rstrip().endswith(
        f"postgres-incremental-sync failed (exit status 1): {line}"
    )
    assert line in log


def test_a_backfill_run_config_leaves_the_scheduled_state_as_it_was(
    deployment: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    assert execute("postgres_incremental_sync")[0].success
    scheduled = deployment.state(INCREMENTAL_STATE)
    config = {
        "state_id_suffix": "backfill-2025",
        "full_refresh": True,
        "env": {"TAP_REVIEWROVER_START_DATE": "2025-01-01"},
    }
    op = "meltano_run_postgres_incremental_sync"
    backfill, _ = execute(
        "postgres_incremental_sync", {"ops": {op: {"config": config}}}
    )
    assert backfill.success
    assert deployment.state(INCREMENTAL_STATE) == scheduled
    assert deployment.state(f"{INCREMENTAL_STATE}:backfill-2025")
    assert postgres_rows(postgres, schema) == api_rows(deployment.sandbox.store)


def test_campaign_groups_sync_in_parallel_each_with_its_own_state(
    project: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    sandbox = project.sandbox
    # The README's example: the sandbox's campaigns in two groups.
    config = ROOT / "orchestration" / "campaign_groups.yaml"
    ops = yaml.safe_load(config.read_text())["ops"]
    groups: dict[str, list[str]] = ops["campaign_groups"]["config"]["groups"]
    campaigns = {record["campaign_id"] for record in sandbox.store.all_records()}
    assert sorted(campaigns) == sorted(c for ids in groups.values() for c in ids)
    # Each tap's first request waits for the other's: they must run at once.
    both_started = threading.Barrier(2, timeout=RUN_TIMEOUT_SECONDS / 2)
    first_requests: list[int] = []
    lock = threading.Lock()

    def meet(page: int, request_number: int) -> None:
        with lock:
            first = page == 1 and len(first_requests) < len(groups)
            if first:
                first_requests.append(request_number)
        if first:
            both_started.wait()

    sandbox.on_list_request(meet)
    completed = subprocess.run(
        execute_command("postgres_incremental_sync_by_campaign", config),
        cwd=ROOT,
        env=dagster_env(project),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "multiprocess executor" in completed.stderr
    # The new system database is made once, before the groups start at once (two
    # `meltano run`s creating it together fail: "table job already exists").
    migrated = completed.stderr.index("Running: meltano upgrade database")
    assert migrated < completed.stderr.index("Running: meltano run --state-id-suffix")
    assert not sandbox.hook_errors  # the barrier was met, not broken
    assert postgres_rows(postgres, schema) == api_rows(sandbox.store)
    assert project.state_ids() == [
        f"{INCREMENTAL_STATE}:{group}" for group in sorted(groups)
    ]
    for group, campaign_ids in groups.items():
        state = project.state(f"{INCREMENTAL_STATE}:{group}")
        partitions = state["singer_state"]["bookmarks"]["enrollments"]["partitions"]
        assert [p["context"]["campaign_id"] for p in partitions] == campaign_ids
        assert all(p["replication_key_value"] for p in partitions)


def test_a_cancelled_run_stops_meltano_which_keeps_the_previous_state(
    project: MeltanoProject, postgres: psycopg.Connection[Row], schema: str
) -> None:
    project.run("postgres-incremental-sync")
    state = project.state(INCREMENTAL_STATE)
    for enrollment_id in project.sandbox.store.ids_in_api_order()[::10]:
        project.sandbox.store.update(enrollment_id, contact_id="cont_changed")

    reached, release = threading.Event(), threading.Event()

    def hold(page: int, _: int) -> None:
        if page == 5 and not release.is_set():  # half-way
            reached.set()
            release.wait(timeout=RUN_TIMEOUT_SECONDS)

    project.sandbox.on_list_request(hold)
    config = project.tmp_path / "run.yaml"
    config.write_text("{}\n")
    with subprocess.Popen(
        execute_command("postgres_incremental_sync", config),
        cwd=ROOT,
        env=dagster_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as dagster:
        log: list[str] = []
        stopping = threading.Event()

        def read(lines: Iterator[str]) -> None:
            for line in lines:
                log.append(line)
                if "Terminating ExtractLoadBlocks" in line:
                    stopping.set()  # Meltano is stopping its plugins

        reader = threading.Thread(target=read, args=(dagster.stdout,), daemon=True)
        reader.start()
        try:
            assert reached.wait(RUN_TIMEOUT_SECONDS), "the sync never reached page 5"
            dagster.send_signal(signal.SIGTERM)  # as Kubernetes, or a cancel, does
            assert stopping.wait(RUN_TIMEOUT_SECONDS), "".join(log)[-5000:]
        finally:
            release.set()
        returncode = dagster.wait(timeout=RUN_TIMEOUT_SECONDS)
        reader.join(timeout=RUN_TIMEOUT_SECONDS)
    output = "".join(log)
    assert returncode != 0, output[-5000:]
    assert "Meltano stopped, exit status 143" in output
    assert project.state(INCREMENTAL_STATE) == state

    # Meltano marked its run as ended: the next one starts without --force.
    project.run("postgres-incremental-sync")
    assert postgres_rows(postgres, schema) == api_rows(project.sandbox.store)
