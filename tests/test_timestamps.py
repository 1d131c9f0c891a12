"""Timestamp parsing and formatting."""

from __future__ import annotations

import datetime as dt
import random
import typing as t

import pytest

from tap_reviewrover.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    microseconds_since_epoch,
    parse_http_date,
    parse_timestamp,
    versions_of_each,
    whole_seconds_of_each,
)

UTC = dt.timezone.utc


def microseconds_of_each(moments: t.Iterable[dt.datetime]) -> list[int]:
    """The versions of a page of moments, as a list."""
    return list(versions_of_each(moments).microseconds)


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


#: The last moment whose seconds fit in 32 bits (MessagePack's 6-byte timestamp).
LAST_32_BIT = dt.datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)
ZONES = [
    UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(dt.timedelta(hours=-8)),
    dt.timezone(dt.timedelta(hours=14)),
]


def random_moment(rng: random.Random, *, whole: bool) -> dt.datetime:
    """A moment from 1900 to 2200, in one of ``ZONES``, maybe with a fraction."""
    seconds = rng.randrange(-2_208_988_800, 7_258_118_400)
    moment = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=seconds)
    if not whole:
        moment += dt.timedelta(microseconds=rng.randrange(1, 1_000_000))
    return moment.astimezone(rng.choice(ZONES))


@pytest.mark.parametrize("seed", range(200))
def test_versions_of_a_page_are_exact_whatever_its_moments(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    size = rng.choice([0, 1, 2, 15, 16, 17, 99, 100, 1000])
    whole = rng.random() < 0.7
    moments = [
        random_moment(rng, whole=whole or rng.random() < 0.9) for _ in range(size)
    ]
    assert microseconds_of_each(moments) == [
        microseconds_since_epoch(moment) for moment in moments
    ]


@pytest.mark.parametrize("size", [1, 15, 16, 100, 65_535, 65_536])
def test_a_page_of_whole_seconds_from_1970_to_2106_is_read_in_one_go(size: int) -> None:
    # The usual page takes the fast path: it is read, not given up on.
    moments = [
        (LAST_32_BIT - dt.timedelta(seconds=i * 7919)).astimezone(ZONES[i % 4])
        for i in range(size)
    ]
    expected = [microseconds_since_epoch(m) // 1_000_000 for m in moments]
    assert whole_seconds_of_each(moments) == tuple(expected)


@pytest.mark.parametrize(
    "odd_one",
    [
        LAST_32_BIT + dt.timedelta(seconds=1),  # past 32 bits
        dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # before 1970
        dt.datetime(2025, 2, 17, 2, 0, 34, 1, tzinfo=UTC),  # a fraction
        dt.datetime(1, 1, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_one_moment_outside_the_fast_path_sends_the_page_down_the_exact_one(
    odd_one: dt.datetime,
) -> None:
    moments = [dt.datetime(2025, 2, 17, 2, 0, 34, tzinfo=UTC)] * 20
    moments[7] = odd_one
    assert whole_seconds_of_each(moments) is None
    assert microseconds_of_each(moments) == [
        microseconds_since_epoch(moment) for moment in moments
    ]


def test_whole_seconds_read_as_microseconds_by_index_slice_or_in_order() -> None:
    moments = [dt.datetime(2025, 2, 17, 2, 0, s, tzinfo=UTC) for s in range(10)]
    exact = [microseconds_since_epoch(moment) for moment in moments]
    versions = versions_of_each(moments)
    assert versions.seconds == tuple(m // 1_000_000 for m in exact)
    assert len(versions.microseconds) == len(exact)
    assert versions.microseconds[3] == exact[3]
    assert versions.microseconds[-1] == exact[-1]
    assert versions.microseconds[2:5] == exact[2:5]
    assert list(versions.microseconds) == exact
    assert list(versions_of_each([]).microseconds) == []
