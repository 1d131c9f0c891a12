"""Bad input of every kind ends in one clear line and exit 1.

Never a traceback, never the token, never a state that claims rows that were not
emitted.
"""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tests.conftest import (
    TOKEN,
    CliRun,
    clean_env,
    run_cli,
    tap_command,
    tap_config,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: Lines a traceback or a leaked error would show.
NOT_ONE_LINE = ("Traceback", 'File "', "Error: ")


def assert_one_clear_line(run: CliRun, problem: str) -> None:
    """Exit 1, ``problem`` said on stderr, no traceback and no token anywhere."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert problem in run.stderr, run.stderr[-3000:]
    for marker in NOT_ONE_LINE[:2]:
        assert marker not in run.stderr, run.stderr[-3000:]
    assert TOKEN not in run.stdout + run.stderr
    assert "Bearer" not in run.stdout + run.stderr


def no_bookmark_moved(run: CliRun, before: str | None = None) -> None:
    """Every STATE the run wrote keeps the bookmark it started from."""
    for state in run.output.states:
        stream = state.get("bookmarks", {}).get("enrollments", {})
        assert stream.get("replication_key_value") == before, state


def run_with_config_file(tmp_path: Path, text: bytes | None) -> CliRun:
    """Run the tap with a config file holding ``text`` (None: no such file)."""
    path = tmp_path / "config.json"
    if text is not None:
        path.write_bytes(text)
    completed = subprocess.run(
        tap_command("--config", str(path)),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    return CliRun(completed.returncode, completed.stdout, completed.stderr)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"{not json", "config file"),
        (b"", "is empty"),
        (b"[]", "must hold a JSON object of settings"),
        (None, "does not exist"),
        (b"\xff\xfe{\x00}\x00", "is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    ],
    ids=["not-json", "empty", "a-list", "missing", "not-utf-8", "nested"],
)
def test_a_bad_config_file_is_one_clear_line(
    tmp_path: Path, text: bytes | None, problem: str
) -> None:
    run = run_with_config_file(tmp_path, text)
    assert_one_clear_line(run, problem)


def test_a_config_path_that_is_a_directory_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    run = run_with_config_file(tmp_path, None)
    assert_one_clear_line(run, "is a directory")


def test_a_catalog_that_is_not_json_is_one_clear_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text("{'streams': []}")
    run = run_cli(tmp_path, tap_config(sandbox), "--catalog", str(catalog))
    assert_one_clear_line(run, "The catalog file is not valid JSON")
    assert sandbox.list_request_count == 0


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("campaign_ids", 5, "5 is not of type 'array'"),
        ("campaign_ids", True, "True is not of type 'array'"),
        ("campaign_ids", [{}], "{} is not of type 'string'"),
        ("start_date", "2024-01-10T00:00:00z", "start_date must be an ISO 8601"),
        ("start_date", " 2024-01-10", "start_date must be an ISO 8601"),
        ("start_date", "0001-01-01T00:00:00+01:00", "start_date must be an ISO 8601"),
        (
            "user_agent",
            "acme-\u0434\u0430\u043d\u043d\u044b\u0435/1.0",
            "outside Latin-1",
        ),
        ("user_agent", "acme\r\nX-Injected: 1", "control characters"),
        ("max_concurrent_requests", None, "max_concurrent_requests must not be null"),
        ("max_retries", None, "max_retries must not be null"),
        ("request_timeout", None, "request_timeout must not be null"),
        ("request_timeout", 0, "request_timeout"),
        ("auth_token", TOKEN + "\u2019", "auth_token contains characters"),
        ("auth_token", "rr-\x00-token", "auth_token contains control characters"),
        ("auth_token", "   ", "auth_token is empty"),
    ],
)
def test_a_bad_setting_is_one_clear_line_naming_it(
    sandbox: SandboxServer,
    tmp_path: Path,
    setting: str,
    value: object,
    problem: str,
) -> None:
    run = run_cli(tmp_path, tap_config(sandbox, **{setting: value}))
    assert_one_clear_line(run, problem)
    assert sandbox.list_request_count == 0


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "TAP_REVIEWROVER_PAGE_SIZE",
            "abc",
            "TAP_REVIEWROVER_PAGE_SIZE must be a whole",
        ),
        (
            "TAP_REVIEWROVER_PAGE_SIZE",
            "1e9",
            "TAP_REVIEWROVER_PAGE_SIZE must be a whole",
        ),
        (
            "TAP_REVIEWROVER_PAGE_SIZE",
            "50.5",
            "TAP_REVIEWROVER_PAGE_SIZE must be a whole",
        ),
        (
            "TAP_REVIEWROVER_CAMPAIGN_IDS",
            "5",
            "TAP_REVIEWROVER_CAMPAIGN_IDS must be a JSON",
        ),
    ],
)
def test_a_bad_environment_variable_is_one_clear_line_naming_it(
    sandbox: SandboxServer,
    tmp_path: Path,
    variable: str,
    value: str,
    problem: str,
) -> None:
    env = {
        "TAP_REVIEWROVER_AUTH_TOKEN": TOKEN,
        "TAP_REVIEWROVER_API_URL": sandbox.url,
        variable: value,
    }
    run = run_cli(tmp_path, None, "--config", "ENV", env=env)
    assert_one_clear_line(run, problem)
    assert sandbox.list_request_count == 0


BOOKMARK = "2025-03-01T00:00:00Z"


@pytest.mark.parametrize(
    "value",
    ["2025-03-01T00:00:00z", "2025-03-01T00:00:00Z ", "0001-01-01T00:00:00+01:00"],
)
def test_a_bad_bookmark_in_the_state_is_one_clear_line(
    sandbox: SandboxServer, tmp_path: Path, value: str
) -> None:
    state = {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": value,
            }
        }
    }
    run = run_cli(tmp_path, tap_config(sandbox), state_text=json.dumps(state))
    assert_one_clear_line(run, "which is not an ISO 8601 timestamp")
    assert sandbox.list_request_count == 0


def test_a_utf_16_state_file_is_one_clear_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    state: dict[str, object] = {"bookmarks": {}}
    (tmp_path / "state.json").write_text(json.dumps(state), encoding="utf-16")
    run = run_cli(
        tmp_path, tap_config(sandbox), "--state", str(tmp_path / "state.json")
    )
    assert_one_clear_line(run, "The state file is not UTF-8 text")


def test_an_unreadable_retry_after_is_a_plain_back_off(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # "²" is a digit to Python's str.isdigit, not to the HTTP RFC.
    sandbox.faults.add(Fault.status(429, headers={"Retry-After": "\u00b2"}), page=2)
    run = run_cli(tmp_path, tap_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.output.records) == len(sandbox.store)


def test_an_api_timestamp_that_is_no_moment_in_utc_stops_the_sync(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    body = page_body(sandbox, 2)
    body["enrollments"][3]["updated_at"] = "0001-01-01T00:00:00+01:00"
    sandbox.faults.add(Fault.status(200, body=body), page=2, times=10)
    run = run_cli(tmp_path, tap_config(sandbox))
    assert_one_clear_line(run, "`updated_at` is 0001-01-01T00:00:00+01:00")
    assert "record 4 (id " in run.stderr
    no_bookmark_moved(run)


def test_an_id_beyond_64_bits_stops_the_sync_naming_the_record(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # No warehouse's BIGINT holds it: emitted, it would fail the whole load.
    body = page_body(sandbox, 2)
    body["enrollments"][3]["id"] = 2**63
    sandbox.faults.add(Fault.status(200, body=body), page=2, times=None)
    run = run_cli(tmp_path, tap_config(sandbox))
    assert_one_clear_line(
        run,
        "page 2: record 4 (id 9223372036854775808): `id`: Expected `int` <= "
        "9223372036854775807",
    )
    assert 2**63 not in [record["id"] for record in run.output.records]
    no_bookmark_moved(run)


def test_a_lone_surrogate_is_one_warning_naming_the_record_and_a_whole_sync(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    body = page_body(sandbox, 2)
    fourth = body["enrollments"][3]
    fourth["contact_id"] = "cont_\ud800"
    sandbox.faults.add(Fault.status(200, body=body), page=2, times=None)
    run = run_cli(tmp_path, tap_config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.output.records) == len(sandbox.store)
    [warning] = [line for line in run.stderr.splitlines() if "U+FFFD" in line]
    assert (
        f"record id {fourth['id']}: `contact_id` (a lone surrogate or bytes" in warning
    )
    assert "retrying" not in run.stderr
    assert not [line for line in run.stderr.splitlines() if "ERROR" in line]


def test_the_reader_going_away_is_one_clear_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(tap_config(sandbox)))
    with subprocess.Popen(
        tap_command("--config", str(tmp_path / "config.json")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as tap:
        assert tap.stdout is not None
        assert tap.stderr is not None
        first_line = tap.stdout.readline()  # like `| head -1`
        tap.stdout.close()
        stderr = tap.stderr.read().decode()
        returncode = tap.wait(timeout=60)
    assert json.loads(first_line)["type"] == "SCHEMA"
    assert returncode == 1, stderr
    assert "went away" in stderr
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


def page_body(sandbox: SandboxServer, page: int) -> dict[str, t.Any]:
    """A page of the list as the sandbox serves it to the tap (10 a page)."""
    import requests  # noqa: PLC0415

    response = requests.get(
        f"{sandbox.url}/v1/enrollments",
        params={"page": page, "limit": 10},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return t.cast("dict[str, t.Any]", response.json())
