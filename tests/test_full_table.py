"""FULL_TABLE syncs: ACTIVATE_VERSION only once a complete copy was emitted."""

from __future__ import annotations

import json
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.tap import TapReviewRover
from tests.conftest import SyncOutput, run_cli, sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")


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


def test_every_record_carries_the_version_that_is_activated(
    sandbox: SandboxServer,
) -> None:
    config = tap_config(sandbox)
    output = sync(config, catalog=full_table_catalog(config))
    (activation,) = activations(output)
    versions = {m.get("version") for m in output.messages if m["type"] == "RECORD"}
    assert versions == {activation["version"]}
    assert activation["stream"] == "enrollments"


def test_with_campaign_ids_the_version_is_activated_after_every_campaign(
    sandbox: SandboxServer,
) -> None:
    campaigns = sorted({r["campaign_id"] for r in sandbox.store.all_records()})[:2]
    config = tap_config(sandbox, campaign_ids=campaigns)
    output = sync(config, catalog=full_table_catalog(config))
    types = message_types(output)
    assert types.count("ACTIVATE_VERSION") == 1
    last_record = max(i for i, kind in enumerate(types) if kind == "RECORD")
    assert types.index("ACTIVATE_VERSION") > last_record
    assert {r["campaign_id"] for r in output.records} == set(campaigns)


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
    # A later FULL_TABLE sync's version is newer, so a target can retire these
    # rows if they are gone by then; a row with no version it might never retire.
    config = tap_config(sandbox)
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
