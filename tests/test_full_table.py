"""FULL_TABLE syncs: ACTIVATE_VERSION only once a complete copy was emitted."""

from __future__ import annotations

import json
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.tap import TapReviewRover
from tests.conftest import SyncOutput, failed_sync, run_cli, sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")

#: activate_version_grace_hours' default, in seconds.
GRACE_SECONDS = 6 * 3600


def full_table_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    return catalog


def message_types(output: SyncOutput) -> list[str]:
    return [message["type"] for message in output.messages]


def activations(output: SyncOutput) -> list[dict[str, t.Any]]:
    return [m for m in output.messages if m["type"] == "ACTIVATE_VERSION"]


def test_activate_version_comes_once_after_the_last_record(
    sandbox: SandboxServer,
) -> None:
    config = tap_config(sandbox)
    output = sync(config, catalog=full_table_catalog(config))
    types = message_types(output)
    assert types.count("ACTIVATE_VERSION") == 1
    assert types.index("ACTIVATE_VERSION") > max(
        index for index, kind in enumerate(types) if kind == "RECORD"
    )
    assert output.records == sandbox.store.all_records()


def test_every_record_carries_the_version_that_is_activated_less_the_grace(
    sandbox: SandboxServer,
) -> None:
    # A sync that started within the grace before this copy (an incremental run,
    # another copy) may still write rows after it: their older versions are kept.
    config = tap_config(sandbox)
    output = sync(config, catalog=full_table_catalog(config))
    (activation,) = activations(output)
    versions = {m.get("version") for m in output.messages if m["type"] == "RECORD"}
    assert versions == {activation["version"] + GRACE_SECONDS}
    assert activation["stream"] == "enrollments"

    exact = tap_config(sandbox, activate_version_grace_hours=0)
    output = sync(exact, catalog=full_table_catalog(exact))
    (activation,) = activations(output)
    versions = {m.get("version") for m in output.messages if m["type"] == "RECORD"}
    assert versions == {activation["version"]}


def test_with_campaign_ids_a_full_table_copy_is_refused_before_any_request(
    sandbox: SandboxServer,
) -> None:
    # Its ACTIVATE_VERSION would retire every other campaign's rows.
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})[:2]
    config = tap_config(sandbox, campaign_ids=campaigns)
    output, error = failed_sync(config, catalog=full_table_catalog(config))
    assert "would delete every other campaign's rows" in str(error)
    assert activations(output) == []
    assert output.records == []
    assert sandbox.list_request_count == 0


def test_with_campaign_ids_and_versions_off_the_campaigns_are_copied_alone(
    sandbox: SandboxServer,
) -> None:
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})[:2]
    config = tap_config(
        sandbox, campaign_ids=campaigns, emit_activate_version_messages=False
    )
    output = sync(config, catalog=full_table_catalog(config))
    assert activations(output) == []
    assert {r["campaign_id"] for r in output.records} == set(campaigns)
    expected = [r for r in sandbox.store.all_records() if r["campaign_id"] in campaigns]
    assert sorted(output.ids) == sorted(r["id"] for r in expected)


def test_a_full_table_sync_that_fails_half_way_activates_nothing(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    # A target would retire every row not re-sent yet: the rows on pages 4 and on.
    sandbox.faults.add(Fault.status(400, body={"error": "bad page"}), page=4)
    config = tap_config(sandbox)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(full_table_catalog(config)))
    run = run_cli(tmp_path, config, "--catalog", str(catalog_path))
    assert run.returncode != 0
    assert run.output.records, "pages 1-3 should have been emitted"
    assert activations(run.output) == []


def test_incremental_records_carry_a_version_but_activate_nothing(
    sandbox: SandboxServer,
) -> None:
    # A FULL_TABLE copy that starts more than the grace later retires these rows
    # if they are gone by then; a row with no version it might never retire.
    config = tap_config(sandbox, activate_version_grace_hours=0)
    output = sync(config)
    assert activations(output) == []
    (version,) = {m.get("version") for m in output.messages if m["type"] == "RECORD"}
    assert isinstance(version, int)
    full = sync(config, catalog=full_table_catalog(config))
    assert activations(full)[0]["version"] >= version


def test_the_setting_turns_activate_version_off(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox, emit_activate_version_messages=False)
    output = sync(config, catalog=full_table_catalog(config))
    assert activations(output) == []
    assert output.records == sandbox.store.all_records()
    assert {m.get("version") for m in output.messages if m["type"] == "RECORD"} == {
        None
    }
