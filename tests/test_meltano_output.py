"""What a `meltano run` shows: the SDK's record counts and the tap's summary line."""

from __future__ import annotations

import json
import re
import typing as t

import pytest

from tests.meltano_project import SUMMARY, MeltanoProject

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: A plugin's log line as Meltano prints it: time, level, plugin name, message.
LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<plugin>\S+)\s+(?P<message>.*)$")
METRIC = re.compile(r"^METRIC\s+metric_name=record_count metric_value=(?P<value>\d+)$")

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


def plugin_messages(log: str, plugin: str) -> list[str]:
    """The messages one plugin logged during a run, in order."""
    return [
        match["message"]
        for line in log.splitlines()
        if (match := LOG_LINE.match(line)) and match["plugin"] == plugin
    ]


def record_counts(messages: list[str]) -> list[int]:
    """The values of the SDK's ``record_count`` metrics among log messages.

    The tap declares ``structured-logging``, so Meltano reads its JSON log lines
    and shows a metric as ``METRIC metric_name=record_count metric_value=N``.
    """
    return [int(match["value"]) for m in messages if (match := METRIC.match(m))]


def test_a_run_logs_record_counts_and_the_tap_ends_with_its_summary_line(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(
        tmp_path, sandbox, TARGET_JSONL_DESTINATION_PATH=str(tmp_path)
    )
    run = project.run("tap-reviewrover", "target-jsonl")
    tap = plugin_messages(run.log, "tap-reviewrover")
    assert SUMMARY.fullmatch(tap[-1]), tap[-1]
    assert run.records_emitted == len(sandbox.store)
    assert sum(record_counts(tap)) == len(sandbox.store)
    lines = (tmp_path / "enrollments.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == sandbox.store.all_records()


def test_a_failed_run_ends_the_taps_log_with_its_error_at_error_level(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(
        tmp_path, sandbox, TARGET_JSONL_DESTINATION_PATH=str(tmp_path)
    )
    project.env["TAP_REVIEWROVER_AUTH_TOKEN"] = "rr-revoked-token-9b2d"  # noqa: S105
    run = project.meltano("run", "tap-reviewrover", "target-jsonl")
    assert run.returncode == 1
    tap = [
        (match["level"], match["message"])
        for line in run.log.splitlines()
        if (match := LOG_LINE.match(line)) and match["plugin"] == "tap-reviewrover"
    ]
    # structured-logging: Meltano shows the tap's own levels.
    message = (
        "ReviewRover rejected the API token (HTTP 401: Invalid or missing API "
        "token). Check the auth_token setting (or TAP_REVIEWROVER_AUTH_TOKEN)."
    )
    assert tap[-1] == ("error", message)
    assert "rr-revoked-token-9b2d" not in run.log
