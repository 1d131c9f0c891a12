"""Issue 13's smaller cases: each handled, or one line that names its cause.

A 408 is retried; a 304 names a cache; a deleted campaign is named and the other
campaigns are still synced; an API that ignores the campaign filter is caught;
an ``api_url`` with a query or fragment, a token too short to be real and a
catalog without a field the walk needs are refused; a closed stdout is one line.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.output import OutputClosedError
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import (
    _CLI_OUTPUT,
    TOKEN,
    CliRun,
    assert_one_error_line,
    clean_env,
    logged_at,
    no_bookmark_anywhere,
    run_cli,
    sync,
    tap_command,
    tap_config,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer


def campaigns_of(sandbox: SandboxServer) -> list[str]:
    """The sandbox's campaigns, in a fixed order."""
    return sorted({r["campaign_id"] for r in sandbox.store.all_records()})


@pytest.mark.usefixtures("each_mode")
def test_a_408_is_retried(sandbox: SandboxServer, waits: list[float]) -> None:
    sandbox.faults.add(Fault.status(408), times=2, page=3)
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    assert len(waits) == 2
    assert [r.status for r in sandbox.requests].count(408) == 2


def test_a_304_on_a_list_is_one_line_naming_a_cache_or_proxy(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.faults.add(Fault.raw(304, b"", content_type=None), page=2, times=None)
    run = run_cli(tmp_path, tap_config(sandbox))
    error = assert_one_error_line(run, "ReviewRover answered 304 Not Modified")
    assert "a cache or proxy between the tap and the API" in error
    assert "redirecting" not in error
    no_bookmark_anywhere(run.output)


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_deleted_campaign_is_named_and_the_others_are_still_synced(
    sandbox: SandboxServer, tmp_path: Path, where: str
) -> None:
    deleted, *others = campaigns_of(sandbox)[:3]
    sandbox.store.delete_campaign(deleted)
    campaign_ids = [deleted, *others] if where == "first" else [*others, deleted]
    run = run_cli(tmp_path, tap_config(sandbox, campaign_ids=campaign_ids))
    error = assert_one_error_line(run, f"ReviewRover has no campaign {deleted!r}")
    assert "Campaign not found" in error
    assert "api_url" not in error
    for other in others:
        assert other not in error
    expected = [r for r in sandbox.store.all_records() if r["campaign_id"] in others]
    assert expected
    assert sorted(run.output.ids) == sorted(r["id"] for r in expected)
    assert all(r in expected for r in run.output.records)


def test_an_api_that_ignores_the_campaign_filter_is_stopped_with_no_bookmark(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.faults.ignore_campaign_filter = True
    asked = campaigns_of(sandbox)[:2]
    run = run_cli(tmp_path, tap_config(sandbox, campaign_ids=asked))
    error = assert_one_error_line(run, "the API ignored the filter")
    assert f"while only campaign_id {asked[0]!r} was asked for" in error
    no_bookmark_anywhere(run.output)
    assert all(r["campaign_id"] in asked for r in run.output.records)


@pytest.mark.parametrize(
    "suffix",
    ["?api_key=query-secret-4d1a", "#access_token=fragment-secret-9c2b"],
    ids=["query", "fragment"],
)
def test_an_api_url_with_a_query_or_fragment_is_refused_without_printing_it(
    sandbox: SandboxServer, tmp_path: Path, suffix: str
) -> None:
    run = run_cli(tmp_path, tap_config(sandbox, api_url=sandbox.url + suffix))
    assert run.returncode == 1
    assert "api_url must be the API's root, without a query (?...) or fragment" in (
        run.stderr
    )
    secret = suffix.partition("=")[2]
    assert secret not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert sandbox.list_request_count == 0


@pytest.mark.parametrize("token", ["5", "12345", "token", "records"])
def test_a_token_too_short_to_be_real_is_refused_and_no_line_is_mangled(
    sandbox: SandboxServer, tmp_path: Path, token: str
) -> None:
    # With another problem in the same run: "500" and "100" must stay themselves.
    run = run_cli(tmp_path, tap_config(sandbox, auth_token=token, page_size=500))
    assert run.returncode == 1
    (error,) = logged_at(run.stderr, "ERROR")  # one line naming every problem
    length = f"{len(token)} character{'s' if len(token) > 1 else ''}"
    assert (
        f"auth_token is {length} long: a ReviewRover API token is longer (at least "
        "12); check that the whole token was copied"
    ) in error
    assert "500 is greater than the maximum of 100 in config['page_size']" in error
    assert "***" not in run.stderr
    assert "Traceback" not in run.stderr
    assert sandbox.list_request_count == 0


def discovered_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The catalog ``--discover`` writes."""
    tap = TapReviewRover(config=config, parse_env_config=False)
    return t.cast("dict[str, t.Any]", json.loads(json.dumps(tap.catalog_dict)))


def without_field(catalog: dict[str, t.Any], field: str) -> dict[str, t.Any]:
    """The catalog with ``field`` removed from the schema and metadata."""
    (entry,) = catalog["streams"]
    del entry["schema"]["properties"][field]
    entry["metadata"] = [
        m for m in entry["metadata"] if m["breadcrumb"] != ["properties", field]
    ]
    return catalog


def run_with_catalog(
    tmp_path: Path, config: dict[str, t.Any], catalog: dict[str, t.Any]
) -> CliRun:
    """Run the tap from the command line with this catalog."""
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return run_cli(tmp_path, config, "--catalog", str(path))


@pytest.mark.parametrize(
    ("field", "role"),
    [
        ("updated_at", "the replication key"),
        ("id", "the key of every record"),
        ("created_at", "the order of the list"),
    ],
)
def test_a_catalog_without_a_field_the_walk_needs_is_refused(
    sandbox: SandboxServer, tmp_path: Path, field: str, role: str
) -> None:
    config = tap_config(sandbox)
    catalog = without_field(discovered_catalog(config), field)
    run = run_with_catalog(tmp_path, config, catalog)
    assert_one_error_line(
        run, f"The catalog's schema for enrollments lacks {field} ({role})"
    )
    # Refused before anything was written: no SCHEMA without the field.
    assert run.stdout == ""
    assert sandbox.list_request_count == 0


def test_a_catalog_that_changes_the_replication_key_is_refused(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Bookmarking created_at would never see an update again.
    config = tap_config(sandbox)
    catalog = discovered_catalog(config)
    (entry,) = catalog["streams"]
    entry["replication_key"] = "created_at"
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == []:
            metadata["metadata"]["replication-key"] = "created_at"
    run = run_with_catalog(tmp_path, config, catalog)
    assert_one_error_line(run, "the replication key 'created_at'")
    assert run.stdout == ""


def test_a_catalog_that_deselects_an_ordinary_field_still_syncs(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = tap_config(sandbox)
    catalog = discovered_catalog(config)
    (entry,) = catalog["streams"]
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", "completed"]:
            metadata["metadata"]["selected"] = False
    run = run_with_catalog(tmp_path, config, catalog)
    assert run.returncode == 0, run.stderr
    (schema,) = [m for m in run.output.messages if m["type"] == "SCHEMA"]
    assert "completed" not in schema["schema"]["properties"]
    assert len(run.output.records) == len(sandbox.store)
    assert all("completed" not in r for r in run.output.records)


def test_a_closed_stdout_is_one_clean_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # As `tap-reviewrover --config config.json >&-`: the target gone before the
    # first write.
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(tap_config(sandbox)))
    completed = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *tap_command("--config", str(config_path))],
        stdout=subprocess.DEVNULL,  # the shell's; the tap's is closed
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )
    _CLI_OUTPUT.append(completed.stderr)
    run = CliRun(completed.returncode, "", completed.stderr)
    assert_one_error_line(run, "The tap's standard output is closed")
    assert "AttributeError" not in run.stderr
    assert TOKEN not in run.stderr


def test_a_sync_without_a_stdout_stops_at_its_first_write(
    sandbox: SandboxServer,
) -> None:
    tap = TapReviewRover(config=tap_config(sandbox), parse_env_config=False)
    with (
        pytest.raises(OutputClosedError, match="standard output is closed"),
        contextlib.redirect_stdout(None),
    ):
        tap.sync_all()
