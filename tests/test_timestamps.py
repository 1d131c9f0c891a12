"""Timestamp parsing and the bookmark rule."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_reviewrover.timestamps import (
    BOOKMARK_SAFETY_MARGIN,
    InvalidTimestampError,
    format_timestamp,
    next_bookmark,
    parse_http_date,
    parse_timestamp,
    updated_since,
)

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-02-10", dt.datetime(2025, 2, 10, tzinfo=UTC)),
        ("2025-02-17T02:00:34Z", dt.datetime(2025, 2, 17, 2, 0, 34, tzinfo=UTC)),
        ("2025-02-17T02:00:34z", dt.datetime(2025, 2, 17, 2, 0, 34, tzinfo=UTC)),
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
    ["02/10/2025", "", "yesterday", "2025-13-01", "2025-02-17 02:00:34", "20250217"],
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


def test_next_bookmark_is_the_api_clock_at_start_less_the_margin() -> None:
    started = dt.datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)
    assert next_bookmark(started) == started - BOOKMARK_SAFETY_MARGIN
    assert dt.timedelta(0) < BOOKMARK_SAFETY_MARGIN


def test_next_bookmark_is_unknown_without_the_api_clock() -> None:
    assert next_bookmark(None) is None


@pytest.mark.parametrize(
    ("updated_at", "kept"),
    [
        ("2025-02-17T02:00:33Z", False),
        ("2025-02-17T02:00:34Z", True),  # same second as the bookmark: kept
        ("2025-02-17T02:00:35Z", True),
        ("2026-01-01T00:00:00Z", True),
        ("2025-02-17T02:00:34.6Z", True),
        ("2025-02-17T02:00:34.4Z", False),
        ("2025-02-17T03:00:35+01:00", True),
        ("2025-02-17T03:00:33+01:00", False),
    ],
)
def test_updated_since_keeps_records_at_or_after_the_bookmark(
    updated_at: str,
    kept: bool,  # noqa: FBT001
) -> None:
    is_wanted = updated_since(dt.datetime(2025, 2, 17, 2, 0, 34, 500000, tzinfo=UTC))
    assert is_wanted(updated_at) is kept


def test_updated_since_refuses_garbage() -> None:
    is_wanted = updated_since(dt.datetime(2025, 2, 17, tzinfo=UTC))
    with pytest.raises(InvalidTimestampError):
        is_wanted("last tuesday")
