"""Timestamp parsing and formatting."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_reviewrover.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    microseconds_of_each,
    microseconds_since_epoch,
    parse_http_date,
    parse_timestamp,
)

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-02-10", dt.datetime(2025, 2, 10, tzinfo=UTC)),
        ("2025-02-17T02:00:34Z", dt.datetime(2025, 2, 17, 2, 0, 34, tzinfo=UTC)),
        ("2025-02-17T02:00:34", dt.datetime(2025, 2, 17, 2, 0, 34, tzinfo=UTC)),
        (
            "2025-02-17T03:00:34.250+01:00",
            dt.datetime(2025, 2, 17, 2, 0, 34, 250000, tzinfo=UTC),
        ),
    ],
)
def test_iso_dates_and_date_times_parse_to_utc(text: str, moment: dt.datetime) -> None:
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize(
    "text",
    [
        "02/10/2025",
        "",
        "yesterday",
        "2025-13-01",
        "2025-02-17 02:00:34",
        "20250217",
        "2024-01-10T00:00:00z",  # the lower-case z of a hand-typed value
        " 2024-01-10",
        "2024-01-10 ",
        "2024-01-10t00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-02:00",  # after year 9999 in UTC
        "\uff12\uff10\uff12\uff14-01-10",  # full-width digits
    ],
)
def test_non_iso_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidTimestampError):
        parse_timestamp(text)


def test_format_timestamp_writes_the_api_form() -> None:
    moment = dt.datetime(
        2025, 2, 17, 3, 0, 34, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert format_timestamp(moment) == "2025-02-17T02:00:34Z"


@pytest.mark.parametrize(
    ("header", "moment"),
    [
        ("Wed, 26 Nov 2026 05:00:00 GMT", dt.datetime(2026, 11, 26, 5, tzinfo=UTC)),
        ("Wednesday, 26-Nov-26 05:00:00 GMT", dt.datetime(2026, 11, 26, 5, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("not a date", None),
    ],
)
def test_http_dates(header: str | None, moment: dt.datetime | None) -> None:
    assert parse_http_date(header) == moment


@pytest.mark.parametrize(
    ("text", "microseconds"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2025-02-17T02:00:34Z", 1_739_757_634_000_000),
        ("2025-02-17T02:00:34.000001Z", 1_739_757_634_000_001),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2025-02-17T04:00:34+02:00", 1_739_757_634_000_000),
    ],
)
def test_a_version_is_the_timestamp_in_microseconds_exactly(
    text: str, microseconds: int
) -> None:
    assert microseconds_since_epoch(parse_timestamp(text)) == microseconds
    assert microseconds_of_each([parse_timestamp(text)]) == [microseconds]


def test_a_page_of_versions_is_each_version_in_order() -> None:
    texts = [
        "2025-02-17T02:00:34Z",
        "1969-12-31T23:59:59.999999Z",
        "2025-02-17T04:00:34.5+02:00",
        "2025-02-17T02:00:34Z",
    ]
    moments = [parse_timestamp(text) for text in texts]
    assert microseconds_of_each(iter(moments)) == [
        microseconds_since_epoch(moment) for moment in moments
    ]
    assert microseconds_of_each([]) == []
