"""The fast RECORD path refuses every SDK feature that reshapes records.

Each feature below, when in use, must make the stream hand its records to the
SDK's own per-record path: the sink's block writer is replaced here by one that
fails the test, and the sync must still produce what the SDK feature asks for.
A feature the SDK adds later is not refused until it is listed here and in
``tap_reviewrover/sink.py``: the first test keeps the two lists equal.
"""

from __future__ import annotations

import contextlib
import io
import json
import typing as t

import pytest

from tap_reviewrover import sink
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import parse_messages, sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: The SDK features that reshape records, as sink.refusals() names them.
FEATURES = (
    "stream maps",
    "flattening",
    "deselected fields",
    "batch messages",
    "a record limit",
    "partition keys the records lack",
)


@pytest.fixture
def no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the sink writes a block."""

    def refuse(*args: object, **kwargs: object) -> None:
        del args, kwargs
        pytest.fail("the fast path wrote records while an SDK feature was in use")

    monkeypatch.setattr(sink.RecordSink, "write", refuse)


def refusals_for(config: dict[str, t.Any], **tap: t.Any) -> list[str]:
    stream = TapReviewRover(config=config, parse_env_config=False, **tap).streams[
        "enrollments"
    ]
    return sink.refusals(stream, None)


def test_the_plain_record_takes_the_fast_path(sandbox: SandboxServer) -> None:
    assert refusals_for(tap_config(sandbox)) == []
    written: list[int] = []
    original = sink.RecordSink.write

    def count(self: sink.RecordSink, records: list[t.Any], **kwargs: t.Any) -> None:
        written.append(len(records))
        original(self, records, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sink.RecordSink, "write", count)
        output = sync(tap_config(sandbox))
    assert sum(written) == len(output.records) == len(sandbox.store)


def test_every_feature_the_sink_refuses_is_tested_here(sandbox: SandboxServer) -> None:
    # refusals() with every feature on names each one, and no other.
    stream = TapReviewRover(
        config=tap_config(
            sandbox,
            stream_maps={"enrollments": {"contact_id": "__NULL__"}},
            batch_config={
                "encoding": {"format": "jsonl"},
                "storage": {"root": "file:///tmp"},
            },
        ),
        parse_env_config=False,
    ).streams["enrollments"]
    stream.ABORT_AT_RECORD_COUNT = 1
    stream.mask[("properties", "contact_id")] = False
    names = sink.refusals(stream, {"not_a_field": "x"})
    assert set(names) >= set(FEATURES) - {"flattening"}  # maps hide flattening
    flat = TapReviewRover(
        config=tap_config(sandbox, flattening_enabled=True, flattening_max_depth=1),
        parse_env_config=False,
    ).streams["enrollments"]
    assert sink.refusals(flat, None) == ["flattening"]
    assert set(names) | {"flattening"} == set(FEATURES)


@pytest.mark.usefixtures("no_fast_path")
def test_stream_maps_take_the_sdk_path(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox, stream_maps={"enrollments": {"contact_id": None}})
    assert refusals_for(config) == ["stream maps"]
    output = sync(config)
    assert output.records
    assert all("contact_id" not in record for record in output.records)


@pytest.mark.usefixtures("no_fast_path")
def test_flattening_takes_the_sdk_path(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox, flattening_enabled=True, flattening_max_depth=1)
    assert refusals_for(config) == ["flattening"]
    assert sync(config).records == sandbox.store.all_records()


@pytest.mark.usefixtures("no_fast_path")
def test_a_deselected_field_takes_the_sdk_path(sandbox: SandboxServer) -> None:
    config = tap_config(sandbox)
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "enrolled_at"]:
                item["metadata"]["selected"] = False
    assert refusals_for(config, catalog=catalog) == ["deselected fields"]
    output = sync(config, catalog=catalog)
    assert len(output.records) == len(sandbox.store)
    assert all("enrolled_at" not in record for record in output.records)


@pytest.mark.usefixtures("no_fast_path")
def test_batch_messages_take_the_sdk_path(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    batch = {
        "encoding": {"format": "jsonl"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "batch-"},
    }
    config = tap_config(sandbox, batch_config=batch)
    assert refusals_for(config) == ["batch messages"]
    output = sync(config)
    assert output.records == []
    batches = [m for m in output.messages if m["type"] == "BATCH"]
    assert batches
    lines = [
        json.loads(line)
        for path in tmp_path.glob("batch-*")
        for line in io.TextIOWrapper(_opened(path), encoding="utf-8")
    ]
    assert len(lines) == len(sandbox.store)


@pytest.mark.usefixtures("no_fast_path")
def test_a_record_limit_takes_the_sdk_path(sandbox: SandboxServer) -> None:
    tap = TapReviewRover(config=tap_config(sandbox), parse_env_config=False)
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(buffer):
        assert tap.run_sync_dry_run(dry_run_record_limit=3)
    buffer.seek(0)
    records = [m for m in parse_messages(buffer.read()) if m["type"] == "RECORD"]
    assert 1 <= len(records) <= 3


def test_partition_keys_the_records_lack_take_the_sdk_path(
    sandbox: SandboxServer,
) -> None:
    stream = TapReviewRover(config=tap_config(sandbox), parse_env_config=False).streams[
        "enrollments"
    ]
    assert sink.refusals(stream, {"campaign_id": "c"}) == []
    assert sink.refusals(stream, {"region": "eu"}) == [
        "partition keys the records lack"
    ]


def _opened(path: Path) -> t.BinaryIO:
    import gzip  # noqa: PLC0415 - only batch files need it

    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return io.BytesIO(data)
