"""The command line as users run it: clear errors, no tracebacks, no token leaks."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.conftest import SEEDED, TOKEN, run_cli, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer


def assert_clean_failure(run: t.Any, message: str) -> None:
    """Exit 1 with ``message``, no traceback, and no token anywhere."""
    assert run.returncode == 1, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert TOKEN not in run.stdout + run.stderr


def test_a_sync_from_the_command_line_never_prints_the_token(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    # A process of its own: the redaction it relies on is the one main() sets up.
    run = run_cli(
        tmp_path,
        tap_config(sandbox),
        env={"TAP_REVIEWROVER_LOGLEVEL": "DEBUG"},
        separate_process=True,
    )
    assert run.returncode == 0, run.stderr
    assert len(run.output.records) == SEEDED
    assert TOKEN not in run.stdout + run.stderr
    assert (
        f"Sync of 'enrollments' done: {SEEDED} records emitted, 10 pages read, "
        "0 retries, 0 drift re-reads" in run.stderr
    )


def test_a_rejected_token_is_one_clear_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = tap_config(sandbox, auth_token=TOKEN[::-1])
    run = run_cli(tmp_path, config)
    assert_clean_failure(run, "ReviewRover rejected the API token (HTTP 401")
    assert TOKEN[::-1] not in run.stdout + run.stderr


def test_a_wrong_api_url_is_named(sandbox: SandboxServer, tmp_path: Path) -> None:
    run = run_cli(tmp_path, tap_config(sandbox, api_url=sandbox.url + "/v2"))
    assert_clean_failure(run, "the api_url setting looks wrong")


def test_config_errors_are_listed_together_without_the_token(tmp_path: Path) -> None:
    config = {
        "auth_token": 98765432123,
        "api_url": "http://reviewrover.example/api",
        "start_date": "02/10/2025",
        "page_size": 500,
    }
    run = run_cli(tmp_path, config)
    assert run.returncode == 1
    assert "98765432123" not in run.stdout + run.stderr
    for problem in (
        "is not of type 'string' in config['auth_token']",
        "api_url must use https://",
        "start_date must be an ISO 8601 date",
        "500 is greater than the maximum of 100",
    ):
        assert problem in run.stderr
    assert "Traceback" not in run.stderr


def test_a_missing_token_is_named_with_the_variable_that_sets_it(
    tmp_path: Path,
) -> None:
    run = run_cli(tmp_path, {})
    assert run.returncode == 1
    assert (
        "'auth_token' is a required property: set TAP_REVIEWROVER_AUTH_TOKEN"
        in run.stderr
    )


def test_the_token_can_come_from_the_environment(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    env = {
        "TAP_REVIEWROVER_AUTH_TOKEN": TOKEN,
        "TAP_REVIEWROVER_API_URL": sandbox.url,
    }
    run = run_cli(tmp_path, None, "--config", "ENV", env=env)
    assert run.returncode == 0, run.stderr
    assert len(run.output.records) == SEEDED


def test_a_corrupt_state_file_is_a_clear_error(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = run_cli(tmp_path, tap_config(sandbox), state_text='{"bookmarks": {"enr')
    assert_clean_failure(run, "The state file is not valid JSON")
    assert sandbox.list_request_count == 0


def test_a_state_with_an_unreadable_bookmark_is_a_clear_error(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    state = {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": "x",
            },
        },
    }
    run = run_cli(tmp_path, tap_config(sandbox), state_text=json.dumps(state))
    assert_clean_failure(run, "which is not an ISO 8601 timestamp")


def test_a_foreign_state_is_ignored_with_a_warning(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    state = {"bookmarks": {"contacts": {"replication_key_value": "2025-01-01"}}}
    run = run_cli(tmp_path, tap_config(sandbox), state_text=json.dumps(state))
    assert run.returncode == 0, run.stderr
    assert "bookmarks for streams this tap does not have (contacts)" in run.stderr
    assert len(run.output.records) == SEEDED


def test_about_lists_every_setting_and_no_value(tmp_path: Path) -> None:
    run = run_cli(
        tmp_path,
        {"auth_token": TOKEN},
        "--about",
        "--format=markdown",
    )
    assert run.returncode == 0, run.stderr
    for setting in (
        "auth_token",
        "api_url",
        "start_date",
        "page_size",
        "campaign_ids",
        "request_timeout",
        "max_retries",
        "user_agent",
    ):
        assert f"| {setting}" in run.stdout
    assert TOKEN not in run.stdout + run.stderr


def test_the_console_script_runs_the_tap(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("tap-reviewrover")
    completed = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 0
    assert "tap-reviewrover v" in completed.stdout + completed.stderr


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_the_proxy_from_the_environment_is_used(
    sandbox: SandboxServer,
    tmp_path: Path,
    variable: str,
) -> None:
    # The sandbox stands in for the proxy: it serves absolute-URI requests too.
    proxy = sandbox.url.removesuffix("/api")
    config = tap_config(sandbox, api_url="http://localhost:9/api")
    run = run_cli(tmp_path, config, env={variable: proxy, "NO_PROXY": ""})
    assert run.returncode == 0, run.stderr
    assert len(run.output.records) == SEEDED


def test_no_proxy_is_honoured(sandbox: SandboxServer, tmp_path: Path) -> None:
    run = run_cli(
        tmp_path,
        tap_config(sandbox),  # 127.0.0.1, listed in NO_PROXY
        env={"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"},
    )
    assert run.returncode == 0, run.stderr
    assert len(run.output.records) == SEEDED


def test_one_metric_line_per_request_only_at_debug(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quiet = run_cli(tmp_path, tap_config(sandbox))
    assert quiet.returncode == 0, quiet.stderr
    assert "http_request_duration" not in quiet.stderr
    assert '"metric":"http_request_count","value":10' in quiet.stderr
    loud = run_cli(
        tmp_path, tap_config(sandbox), env={"TAP_REVIEWROVER_LOGLEVEL": "DEBUG"}
    )
    assert loud.stderr.count("http_request_duration") == 10
    # Each line times its request (the time to the answer's headers).
    durations = [
        json.loads(line.partition("METRIC: ")[2])["value"]
        for line in loud.stderr.splitlines()
        if "http_request_duration" in line
    ]
    assert all(value > 0 for value in durations), durations
