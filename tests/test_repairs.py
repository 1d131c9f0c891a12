"""The rules for values msgspec cannot read or a warehouse cannot store, pinned down."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import msgspec
import pytest

from tap_reviewrover.repairs import (
    NOT_UNICODE,
    NUL,
    Repair,
    describe,
    has_leap_second,
    may_hold_nul,
    parse_leniently,
    read_leap_second,
    repair_page,
    storable,
)


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"),
        ("2016-12-31T23:59:60.123Z", "2016-12-31T23:59:59.999999Z"),
        ("2016-12-31t23:59:60z", "2016-12-31t23:59:59.999999z"),
        ("2015-06-30 23:59:60+00:00", "2015-06-30 23:59:59.999999+00:00"),
        ("2017-01-01T00:59:60+01:00", "2017-01-01T00:59:59.999999+01:00"),
        ("2017-01-01T05:29:60+05:30", "2017-01-01T05:29:59.999999+05:30"),
        ("1990-12-31T15:59:60-08:00", "1990-12-31T15:59:59.999999-08:00"),  # RFC 3339
        # Not the last minute of a UTC day: no leap second.
        ("2016-12-31T12:34:60Z", None),
        ("2016-12-31T23:59:60+01:00", None),
        ("2017-01-01T00:59:60-01:00", None),
        # Not a leap second at all.
        ("2016-12-31T23:59:59Z", None),
        ("2016-12-31T23:59:60", None),
        ("2016-12-31T23:59:60.Z", None),
        ("2016-12-31T23:59:61Z", None),
        (" 2016-12-31T23:59:60Z", None),
        ("2016-12-31T23:59:60Z ", None),
    ],
)
def test_a_leap_second_is_read_as_the_last_moment_before_the_next_minute(
    text: str, read_as: str | None
) -> None:
    assert read_leap_second(text) == read_as


@pytest.mark.parametrize(
    "text",
    ["2016-12-31T23:59:60Z", "2017-01-01T00:59:60+01:00", "2016-12-31T23:59:60.9Z"],
)
def test_a_leap_second_sorts_between_its_neighbours_and_never_after_a_later_moment(
    text: str,
) -> None:
    read = read_leap_second(text)
    assert read is not None
    moment = msgspec.json.decode(json.dumps(read).encode(), type=dt.datetime)
    last_whole_second = dt.datetime(2016, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    assert last_whole_second < moment < last_whole_second + dt.timedelta(seconds=1)
    # Nothing a datetime holds lies between it and the next second.
    assert moment + dt.timedelta(microseconds=1) == last_whole_second + dt.timedelta(
        seconds=1
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"updated_at":"2016-12-31T23:59:60Z"}', True),
        (b'{"updated_at":"2017-01-01T00:59:60.5+01:00"}', True),
        (b'{"updated_at":"2016-12-31T23:59:59Z"}', False),
        (b'{"count":60}', False),
    ],
)
def test_a_leap_second_in_a_body_is_found(content: bytes, *, expected: bool) -> None:
    assert has_leap_second(content) is expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"a":"x\\u0000y"}', True),
        (b'{"a":"C:\\\\u0000"}', True),  # a literal backslash: the repair finds none
        (b'{"a":"\\u00e9\\n"}', False),
        (b'{"a":"u0000"}', False),
        (b'{"a":"plain"}', False),
    ],
)
def test_a_nul_escape_is_looked_for_only_where_one_can_be(
    content: bytes, *, expected: bool
) -> None:
    assert may_hold_nul(content) is expected


@pytest.mark.parametrize(
    ("text", "stored", "problems"),
    [
        ("plain", "plain", set()),
        ("caf\u00e9 \U0001f600 \ufffd", "caf\u00e9 \U0001f600 \ufffd", set()),
        ("a\x00b", "a\ufffdb", {NUL}),
        ("a\ud800b", "a\ufffdb", {NOT_UNICODE}),
        ("\udfff", "\ufffd", {NOT_UNICODE}),
        ("\udc80\udcff", "\ufffd\ufffd", {NOT_UNICODE}),  # bytes not UTF-8
        ("\x00\ud83d", "\ufffd\ufffd", {NUL, NOT_UNICODE}),
        ("tab\tand\x01", "tab\tand\x01", set()),  # PostgreSQL stores these
    ],
)
def test_only_nul_and_lone_surrogates_are_replaced(
    text: str, stored: str, problems: set[str]
) -> None:
    assert storable(text) == (stored, problems)


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b'{"a":"\\ud800"}', {"a": "\ud800"}),
        (b'{"a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}),
        (b'{"a":"x\xffy"}', {"a": "x\udcffy"}),
        (b'{"a":12345678901234567890123}', {"a": 12345678901234567890123}),
    ],
)
def test_a_body_is_parsed_keeping_what_msgspec_refuses(
    content: bytes, value: object
) -> None:
    assert parse_leniently(content) == value


@pytest.mark.parametrize(
    "content",
    [
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":1e400}',
        b'{"a":"x',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":"tab\tin a string"}',
        b"[" * 100_000 + b"]" * 100_000,
        b"<html>502 Bad Gateway</html>",
    ],
    ids=[
        "nan",
        "infinity",
        "beyond-double",
        "cut",
        "bom",
        "raw-control",
        "deep",
        "html",
    ],
)
def test_a_body_msgspec_refuses_for_other_reasons_is_refused_too(
    content: bytes,
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any reason is the point
        parse_leniently(content)


def test_a_page_is_repaired_in_place_and_only_record_fields_are_reported() -> None:
    body: dict[str, t.Any] = {
        "enrollments": [
            {"id": 1, "contact_id": "ok", "updated_at": "2016-12-31T23:59:60Z"},
            {
                "id": 2,
                "contact_id": "a\x00",
                "tags": ["\ud800", {"k\x00": "v"}],
                "unknown": "\x00",
            },
            "not a record",
        ],
        "pagination": {"total": 2, "note\ud800": "\x00"},
    }
    repairs = repair_page(
        body, "enrollments", {"id", "contact_id", "tags", "updated_at"}, {"updated_at"}
    )
    assert repairs == [
        Repair(1, "contact_id", NUL),
        Repair(1, "tags", f"{NOT_UNICODE}, and {NUL}"),
    ]
    assert body == {
        "enrollments": [
            {"id": 1, "contact_id": "ok", "updated_at": "2016-12-31T23:59:59.999999Z"},
            {
                "id": 2,
                "contact_id": "a\ufffd",
                "tags": ["\ufffd", {"k\ufffd": "v"}],
                "unknown": "\ufffd",
            },
            "not a record",
        ],
        "pagination": {"total": 2, "note\ufffd": "\ufffd"},
    }
    assert list(body["enrollments"][1]) == ["id", "contact_id", "tags", "unknown"]
    msgspec.json.encode(body)  # every string encodes again


def test_a_leap_second_is_read_only_in_a_timestamp_field() -> None:
    body = {"items": [{"note": "2016-12-31T23:59:60Z", "at": "2016-12-31T23:59:60Z"}]}
    assert repair_page(body, "items", {"note", "at"}, {"at"}) == []
    assert body == {
        "items": [{"note": "2016-12-31T23:59:60Z", "at": "2016-12-31T23:59:59.999999Z"}]
    }


def test_the_warning_names_five_records_and_counts_the_rest() -> None:
    repairs = [(n, Repair(n, "contact_id", NUL)) for n in range(7)]
    warning = describe(repairs)
    assert "record id 0: `contact_id` (a NUL character); record id 1:" in warning
    assert "record id 4: `contact_id` (a NUL character); and 2 more." in warning
    assert "record id 5" not in warning
    assert "\n" not in warning
