"""Quiet when healthy: a runbook that pages on any WARNING or ERROR line.

A healthy sync logs neither, at the default level; a failure is exactly one
ERROR line (the tap's own, not the SDK's "An unhandled error occurred" first);
``--test`` logs no ERROR and exits 0.
"""

from __future__ import annotations

import json
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tests.conftest import (
    SEEDED,
    assert_one_error_line,
    logged_at,
    run_cli,
    tap_config,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: Every level a runbook may page on.
LOUD = ("WARNING", "ERROR", "CRITICAL")


@pytest.mark.parametrize("partitioned", [False, True], ids=["whole", "campaigns"])
def test_a_healthy_sync_and_the_next_one_log_no_warning_or_error(
    sandbox: SandboxServer,
    tmp_path: Path,
    partitioned: bool,  # noqa: FBT001
) -> None:
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})
    config = tap_config(sandbox)
    if partitioned:
        config["campaign_ids"] = campaigns
    first = run_cli(tmp_path, config, separate_process=True)  # as it runs
    assert first.returncode == 0, first.stderr
    assert len(first.output.records) == SEEDED
    assert logged_at(first.stderr, *LOUD) == []
    assert "Sync of 'enrollments' done" in first.stderr  # INFO lines do show
    # The next sync, from the bookmark the first one left.
    state = json.dumps(first.output.final_state)
    second = run_cli(tmp_path, config, state_text=state)
    assert second.returncode == 0, second.stderr
    assert logged_at(second.stderr, *LOUD) == []


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault.status(401), "ReviewRover rejected the API token (HTTP 401"),
        (Fault.status(503), "Gave up on page 1 of"),
        (Fault.status(200, body={"enrollments": []}), "missing required field"),
    ],
    ids=["token", "retries", "bad-body"],
)
def test_a_failed_sync_is_exactly_one_error_line(
    sandbox: SandboxServer, tmp_path: Path, fault: Fault, problem: str
) -> None:
    sandbox.faults.add(fault, times=None)
    run = run_cli(tmp_path, tap_config(sandbox, max_retries=0))
    assert_one_error_line(run, problem)
    assert "An unhandled error occurred" not in run.stderr


def test_test_mode_logs_no_error_and_exits_0(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = run_cli(tmp_path, tap_config(sandbox), "--test", separate_process=True)
    assert run.returncode == 0, run.stderr
    assert logged_at(run.stderr, "ERROR", "CRITICAL") == []
    assert run.output.records
    assert sandbox.list_request_count == 1
