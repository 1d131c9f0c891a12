"""Every record the tap emits matches the schema; one that does not stops the sync."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
import requests
from reviewrover_sandbox import Fault

from tap_reviewrover.errors import BadResponseError
from tests.conftest import PAGE_SIZE, SEEDED, failed_sync, sync, tap_config

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
        (
            change_fourth(updated_at="2016-12-31T12:34:60Z"),
            r"`updated_at`: Invalid RFC3339 encoded datetime",
        ),
        (
            change_fourth(id="500", contact_id="\ud800\x00"),
            r"\(id '500'\): `id`: Expected `int`, got `str`",
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


def served_page(sandbox: SandboxServer, number: int) -> bytes:
    """The body the sandbox serves for a page of the test size, as it is now."""
    response = requests.get(
        f"{sandbox.url}/v1/enrollments",
        params={"page": number, "limit": PAGE_SIZE},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.content


def warnings_about_text(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cannot store" in r.getMessage()]


@pytest.mark.parametrize(
    ("sent", "stored", "problem"),
    [
        ("cont_\ud800x", "cont_\ufffdx", "a lone surrogate"),
        ("cont_\udc00", "cont_\ufffd", "a lone surrogate"),
        ("cont_\x00x\x00", "cont_\ufffdx\ufffd", "a NUL character"),
        (
            "\x00\udfff",
            "\ufffd\ufffd",
            "a lone surrogate or bytes not UTF-8, and a NUL character",
        ),
    ],
    ids=["high-surrogate", "low-surrogate", "nul", "both"],
)
def test_text_a_warehouse_cannot_store_is_replaced_and_named_not_retried(  # noqa: PLR0913, PLR0917 - fixtures and a table
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    waits: list[float],
    sent: str,
    stored: str,
    problem: str,
) -> None:
    fourth_of_page_2 = sandbox.store.ids_in_api_order()[PAGE_SIZE + 3]
    sandbox.faults.add(
        Fault.records(change_fourth(contact_id=sent)), page=2, times=None
    )
    output = sync(tap_config(sandbox))
    expected = {
        record["id"]: record
        if record["id"] != fourth_of_page_2
        else {
            **record,
            "contact_id": stored,
        }
        for record in sandbox.store.all_records()
    }
    assert {record["id"]: record for record in output.records} == expected
    assert len(output.records) == SEEDED
    assert waits == []  # read once: no retry
    assert sandbox.list_request_count == SEEDED // PAGE_SIZE + 1
    [warning] = warnings_about_text(caplog)
    assert f"record id {fourth_of_page_2}: `contact_id` (" in warning
    assert problem in warning


def test_bytes_that_are_not_utf_8_in_a_string_are_replaced_and_named(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    body = served_page(sandbox, 2)
    fourth = sandbox.store.ids_in_api_order()[PAGE_SIZE + 3]
    contact = sandbox.store.get(fourth)
    assert contact is not None
    sent = f'"{contact["contact_id"]}"'.encode()
    assert body.count(sent) == 1
    bad = body.replace(sent, sent[:-1] + b'\xe9\xff"')
    sandbox.faults.add(Fault.raw(200, bad), page=2, times=None)
    output = sync(tap_config(sandbox))
    [record] = [record for record in output.records if record["id"] == fourth]
    assert record["contact_id"] == contact["contact_id"] + "\ufffd\ufffd"
    assert len(output.records) == SEEDED
    assert waits == []
    [warning] = warnings_about_text(caplog)
    assert f"record id {fourth}: `contact_id` (" in warning
    assert "bytes not UTF-8" in warning


def test_bad_text_in_a_record_the_sync_does_not_emit_is_not_reported(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    # An old record keeps its bad text for good: an hourly run must not warn
    # about it every hour when it emits nothing altered.
    old = change_fourth(contact_id="\x00\ud800", updated_at="2020-01-01T00:00:00Z")
    sandbox.faults.add(Fault.records(old), page=2, times=None)
    output = sync(tap_config(sandbox), state=STATE)
    assert output.records
    assert all(record["updated_at"] >= "2024-06-01" for record in output.records)
    assert warnings_about_text(caplog) == []


def test_text_that_only_looks_like_an_escape_is_kept_as_sent(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The JSON "\\u0000" is a backslash and "u0000": no NUL, nothing to replace.
    # A vendor's own U+FFFD is no repair of the tap's either.
    def texts(records: Records) -> Records:
        records[3]["contact_id"] = "C:\\u0000\\ud800"
        records[4]["contact_id"] = "already \ufffd"
        return records

    sandbox.faults.add(Fault.records(texts), page=2, times=None)
    output = sync(tap_config(sandbox))
    sent = [record["contact_id"] for record in output.records]
    assert "C:\\u0000\\ud800" in sent
    assert "already \ufffd" in sent
    assert warnings_about_text(caplog) == []


@pytest.mark.parametrize(
    ("sent", "emitted"),
    [
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"),
        ("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999999Z"),
        ("2017-01-01T00:59:60+01:00", "2017-01-01T00:59:59.999999+01:00"),
        ("2016-12-31T15:59:60-08:00", "2016-12-31T15:59:59.999999-08:00"),
    ],
)
def test_a_leap_second_is_read_as_the_last_moment_of_its_minute(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture, sent: str, emitted: str
) -> None:
    fourth = sandbox.store.ids_in_api_order()[PAGE_SIZE + 3]
    leap = change_fourth(updated_at=sent, enrolled_at=sent)
    sandbox.faults.add(Fault.records(leap), page=2, times=None)
    output = sync(tap_config(sandbox))
    [record] = [record for record in output.records if record["id"] == fourth]
    assert record["updated_at"] == record["enrolled_at"] == emitted
    assert len(output.records) == SEEDED
    # Valid data: nothing to warn about (the SDK's own "unsorted" line aside).
    assert not [
        r
        for r in caplog.records
        if r.levelname in {"WARNING", "ERROR"} and "unsorted" not in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("bookmark", "emitted"),
    [
        ("2016-12-31T23:59:59Z", True),
        ("2016-12-31T23:59:59.999999Z", True),
        ("2017-01-01T00:00:00Z", False),
    ],
)
def test_a_leap_second_update_is_emitted_from_any_bookmark_up_to_its_second(
    sandbox: SandboxServer, bookmark: str, *, emitted: bool
) -> None:
    fourth = sandbox.store.ids_in_api_order()[PAGE_SIZE + 3]
    sandbox.faults.add(
        Fault.records(change_fourth(updated_at="2016-12-31T23:59:60.7Z")),
        page=2,
        times=None,
    )
    state = {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": bookmark,
            }
        }
    }
    # No lookback: the bookmark itself is the edge under test.
    output = sync(tap_config(sandbox, lookback_seconds=0), state=state)
    assert (fourth in output.ids) is emitted


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
