"""Every record the tap emits matches the schema; one that does not stops the sync."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.errors import BadResponseError
from tests.conftest import SEEDED, failed_sync, sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")

Records = list[dict[str, t.Any]]
STATE = {
    "bookmarks": {
        "enrollments": {
            "replication_key": "updated_at",
            "replication_key_value": "2024-06-01T00:00:00Z",
        }
    }
}


def change_fourth(**fields: object) -> t.Callable[[Records], Records]:
    """A transform of a page that changes fields of its fourth record."""

    def change(records: Records) -> Records:
        records[3].update(fields)
        return records

    return change


def drop_from_fourth(*fields: str) -> t.Callable[[Records], Records]:
    """A transform of a page that removes fields from its fourth record."""

    def drop(records: Records) -> Records:
        for field in fields:
            records[3].pop(field)
        return records

    return drop


@pytest.mark.parametrize(
    ("transform", "problem"),
    [
        (change_fourth(id="500"), r"\(id '500'\): `id`: Expected `int`, got `str`"),
        (change_fourth(id=12.0), r"`id`: Expected `int`, got `float`"),
        (change_fourth(completed="yes"), r"`completed`: Expected `bool \| null`"),
        (change_fourth(campaign_id=17), r"`campaign_id`: Expected `str \| null`"),
        (
            change_fourth(updated_at="2024-13-45T99:99:99Z"),
            r"`updated_at`: Invalid RFC3339 encoded datetime",
        ),
        (
            change_fourth(updated_at="2025-02-17T02:00:34"),
            r"`updated_at`: Expected `datetime` with a timezone",
        ),
        (change_fourth(created_at=None), r"`created_at`: Expected `datetime`, got"),
        (drop_from_fourth("id"), r"record 4 \(no id\): Object missing required field"),
        (drop_from_fourth("created_at"), r"missing required field `created_at`"),
        (drop_from_fourth("updated_at"), r"missing required field `updated_at`"),
        (
            change_fourth(id=2**63),
            r"\(id 9223372036854775808\): `id`: Expected `int` <= 9223372036854775807",
        ),
        (
            change_fourth(id=-(2**63) - 1),
            r"`id`: Expected `int` >= -9223372036854775808",
        ),
    ],
)
def test_a_record_that_breaks_the_schema_stops_the_sync_naming_it(
    sandbox: SandboxServer,
    transform: t.Callable[[Records], Records],
    problem: str,
) -> None:
    sandbox.faults.add(Fault.records(transform), page=2, times=None)
    output, error = failed_sync(tap_config(sandbox), state=STATE)
    assert isinstance(error, BadResponseError)
    assert "for page 2: record 4 (" in str(error)
    assert re.search(problem, str(error)), str(error)
    for state in output.states:
        assert state == STATE


def test_two_records_without_id_are_an_error_not_one_silently_dropped(
    sandbox: SandboxServer,
) -> None:
    def strip_ids_of_a_tie(records: Records) -> Records:
        records[4]["created_at"] = records[3]["created_at"]
        del records[3]["id"], records[4]["id"]
        return records

    sandbox.faults.add(Fault.records(strip_ids_of_a_tie), page=2, times=None)
    _, error = failed_sync(tap_config(sandbox))
    assert "missing required field `id`" in str(error)


def test_records_are_emitted_with_the_schema_s_types_and_utc_timestamps(
    sandbox: SandboxServer,
) -> None:
    def offsets(records: Records) -> Records:
        # The same moment, written with an offset: still an RFC 3339 timestamp.
        moment = dt.datetime.fromisoformat(
            records[0]["updated_at"].replace("Z", "+00:00")
        )
        shifted = moment.astimezone(dt.timezone(dt.timedelta(hours=2)))
        records[0]["updated_at"] = shifted.isoformat()
        return records

    sandbox.faults.add(Fault.records(offsets), page=1)
    output = sync(tap_config(sandbox))
    for record in output.records:
        assert isinstance(record["id"], int)
        assert isinstance(record["completed"], bool)
        assert isinstance(record["campaign_id"], str)
        for field in ("enrolled_at", "created_at", "updated_at"):
            dt.datetime.fromisoformat(record[field].replace("Z", "+00:00"))
    assert len(output.records) == len(sandbox.store)


def test_unknown_fields_are_left_out_and_named_once(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def add_fields(records: Records) -> Records:
        for record in records:
            record["priority"] = "high"
            record["notes"] = None
        return records

    sandbox.faults.add(Fault.records(add_fields), times=None)
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    warnings = [
        r.getMessage() for r in caplog.records if "does not know" in r.getMessage()
    ]
    assert warnings == [
        (
            "ReviewRover sent fields the tap does not know yet, left out of the "
            "records: notes, priority."
        )
    ]


def test_an_id_at_the_edge_of_64_bits_is_emitted(sandbox: SandboxServer) -> None:
    def edges(records: Records) -> Records:
        records[3]["id"], records[4]["id"] = 2**63 - 1, -(2**63)
        return records

    sandbox.faults.add(Fault.records(edges), page=2, times=None)
    output = sync(tap_config(sandbox))
    assert {2**63 - 1, -(2**63)} <= set(output.ids)
    assert len(output.records) == SEEDED


def test_the_schema_message_declares_no_bounds_that_would_remake_a_column(
    sandbox: SandboxServer,
) -> None:
    # The 64-bit bound is checked as pages decode, not declared: given a
    # `maximum`, target-duckdb remakes the `id` column of a table it made
    # without one (renamed away, an empty one added) and every load then fails.
    output = sync(tap_config(sandbox))
    [schema] = [m["schema"] for m in output.messages if m["type"] == "SCHEMA"]
    for field in schema["properties"].values():
        assert not {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & (
            field.keys()
        )
