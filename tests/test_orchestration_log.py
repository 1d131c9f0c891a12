"""Which of Meltano's lines a Dagster run shows, and which says why it failed."""

from __future__ import annotations

import pytest

from orchestration.meltano_command import MeltanoLog

TASKS = ("tap-reviewrover target-postgres",)
SUMMARY = (
    "2026-11-30T13:58:34Z [info     ] tap-reviewrover Sync of 'enrollments' done: "
    "95 records emitted, 10 pages read, 0 retries, 0 drift re-reads, 0.1 s."
)
TAP_ERROR = (
    "2026-11-30T13:58:34.211497Z [error    ] tap-reviewrover ReviewRover rejected "
    "the API token (HTTP 401: Invalid or missing API token)."
)


def log_of(*lines: str) -> MeltanoLog:
    """A log that took in these lines, of a run of ``TASKS``."""
    log = MeltanoLog(TASKS)
    for line in lines:
        log.add(line)
    return log


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (TAP_ERROR, "error"),
        (
            "2026-11-30T13:58:33Z [warning  ] meltano      No state was found.",
            "warning",
        ),
        ("2026-11-30T13:58:33Z [critical ] meltano      Out of disk.", "error"),
        (SUMMARY, "info"),
        ("2026-11-30T13:58:34Z [info     ] tap-reviewrover METRIC   x=1", None),
        ("  a traceback's line", None),
    ],
)
def test_warnings_errors_and_the_summary_line_go_to_the_run_log(
    line: str, level: str | None
) -> None:
    assert MeltanoLog.level_for_run_log(line) == level


def test_the_error_is_the_failed_extractors_last_line() -> None:
    log = log_of(
        TAP_ERROR,
        "2026-11-30T13:58:34.3Z [info     ] target-postgres Target closed.",
        "2026-11-30T13:58:34.4Z [error    ] meltano      Extractor failed",
        "2026-11-30T13:58:34.5Z [info     ] meltano      Run completed",
    )
    assert log.error_line() == (
        "tap-reviewrover: ReviewRover rejected the API token (HTTP 401: Invalid or "
        "missing API token)."
    )


def test_the_error_is_the_failed_loaders_last_line() -> None:
    log = log_of(
        SUMMARY,
        "2026-11-30T13:58:34.2Z [info     ] target-postgres psycopg.OperationalError: "
        "connection refused",
        "2026-11-30T13:58:34.4Z [error    ] meltano      Loader failed",
    )
    assert log.error_line() == (
        "target-postgres: psycopg.OperationalError: connection refused"
    )


def test_without_a_failed_plugin_the_error_is_the_last_plugin_line_or_meltanos() -> (
    None
):
    assert log_of(TAP_ERROR).error_line().startswith("tap-reviewrover: ReviewRover")
    meltano_only = "2026-11-30T13:58:34Z [error    ] meltano      Job not found"
    assert log_of(meltano_only).error_line() == meltano_only
    assert log_of().error_line() == "(no output)"


def test_a_failure_before_any_plugin_ran_is_meltanos_last_error_not_its_traceback() -> (
    None
):
    # Two runs migrating one new system database at once: Meltano's errors, then
    # a traceback in boxes that ends in blank lines.
    migrating = (
        "2026-12-03T08:51:08.914417Z [error    ] meltano      Cannot upgrade the "
        "system database. It might be corrupted or was created before database "
        "migrations were introduced (v0.34.0)"
    )
    log = log_of(
        "2026-12-03T08:51:08Z [error    ] meltano      (sqlite3.OperationalError) "
        "table job already exists",
        migrating,
        "│ ❱ 130 │   │   │   │   raise MigrationError(err_msg) from ex   │",
        "MigrationError: Cannot upgrade the system database.",
        "",
        "   ",
    )
    assert log.error_line() == migrating
    assert log_of("a line", "").error_line() == "a line"
