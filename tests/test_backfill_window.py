"""end_date: a backfill window emits exactly the updates in it, and stops there.

A window ``[start_date, end_date)`` emits the enrollments last updated in it, and
its bookmark stops at ``end_date``, so that the next sync (without an end) starts
there: together they emit every update since ``start_date``, none twice.
"""

from __future__ import annotations

import json
import typing as t

import pytest

from tap_reviewrover.tap import TapReviewRover
from tap_reviewrover.timestamps import parse_timestamp
from tests.conftest import run_cli, sync, tap_config
from tests.meltano_project import ROOT

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import EnrollmentStore, SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")

START_DATE, END_DATE = "2024-09-01", "2025-01-01"


def updated_between(
    store: EnrollmentStore, start: str, end: str | None = None
) -> list[int]:
    """The ids of the enrollments last updated from ``start`` to before ``end``."""
    since = parse_timestamp(start)
    before = parse_timestamp(end) if end else None
    return sorted(
        record["id"]
        for record in store.all_records()
        if since <= parse_timestamp(record["updated_at"])
        and (before is None or parse_timestamp(record["updated_at"]) < before)
    )


def test_a_window_emits_exactly_the_enrollments_updated_in_it(
    sandbox: SandboxServer,
) -> None:
    expected = updated_between(sandbox.store, START_DATE, END_DATE)
    assert 0 < len(expected) < len(sandbox.store)  # the window cuts both ways
    output = sync(tap_config(sandbox, start_date=START_DATE, end_date=END_DATE))
    assert sorted(output.ids) == expected
    assert output.bookmark == "2025-01-01T00:00:00Z"


def test_the_sync_after_a_window_goes_on_from_its_end_and_misses_nothing(
    sandbox: SandboxServer,
) -> None:
    window = sync(tap_config(sandbox, start_date=START_DATE, end_date=END_DATE))
    after = sync(tap_config(sandbox, start_date=START_DATE), state=window.final_state)
    assert sorted(after.ids) == updated_between(sandbox.store, END_DATE)
    assert not set(window.ids) & set(after.ids)
    assert sorted(window.ids + after.ids) == updated_between(sandbox.store, START_DATE)


def test_a_full_table_sync_ignores_end_date(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox, end_date=END_DATE)
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    output = sync(config, catalog=catalog)
    # Every enrollment: its ACTIVATE_VERSION retires any row it does not send.
    assert output.records == sandbox.store.all_records()
    assert [m["type"] for m in output.messages].count("ACTIVATE_VERSION") == 1


def test_sample_configs_placeholder_token_is_refused_before_any_request(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sample = json.loads((ROOT / "sample_config.json").read_text())
    run = run_cli(tmp_path, {**sample, "api_url": sandbox.url})
    assert run.returncode == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert "auth_token is a placeholder (as in sample_config.json)" in last_line
    assert "Traceback" not in run.stderr
    assert sandbox.list_request_count == 0


def test_the_last_line_of_a_settings_error_names_every_problem(
    tmp_path: Path,
) -> None:
    # `meltano config test` shows only the tap's last line.
    run = run_cli(tmp_path, {"start_date": "yesterday"})
    assert run.returncode == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert (
        "'auth_token' is a required property: set TAP_REVIEWROVER_AUTH_TOKEN (Meltano "
        "reads it in every environment, and the tap with --config ENV), or "
        "auth_token in the config file; start_date must be an ISO 8601 date"
    ) in last_line
