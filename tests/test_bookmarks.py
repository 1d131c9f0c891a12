"""The bookmark rules: one clock rule, the margin, the lookback, the window."""

from __future__ import annotations

import datetime as dt
import operator

import pytest

from tap_reviewrover.bookmarks import (
    CLOCK_MARGIN,
    MAX_CLOCK_SKEW,
    Window,
    created_since,
    emit_window,
    next_bookmark,
    sync_start,
)

UTC = dt.timezone.utc
HOST_NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("api_clock", "start", "warned"),
    [
        (HOST_NOW, HOST_NOW, False),
        (HOST_NOW - 30 * SECOND, HOST_NOW - 30 * SECOND, False),
        (HOST_NOW + 30 * SECOND, HOST_NOW, False),
        # Past the margin apart: the earlier clock, and a warning naming both.
        (HOST_NOW + 90 * SECOND, HOST_NOW, True),
        (HOST_NOW - 90 * SECOND, HOST_NOW - 90 * SECOND, True),
        (HOST_NOW.replace(year=2102), HOST_NOW, True),  # 76 years ahead
        (HOST_NOW.replace(year=1950), HOST_NOW.replace(year=1950), True),
        (None, None, True),  # no Date: the bookmark stays where it was
    ],
)
def test_the_sync_starts_at_the_earlier_clock(
    api_clock: dt.datetime | None,
    start: dt.datetime | None,
    warned: bool,  # noqa: FBT001
) -> None:
    found, warning = sync_start(api_clock, HOST_NOW)
    assert found == start
    assert (warning is not None) == warned


def test_the_bookmark_is_the_start_less_the_margin_and_never_a_record_s_time() -> None:
    assert next_bookmark(HOST_NOW) == HOST_NOW - CLOCK_MARGIN
    assert next_bookmark(None) is None
    assert dt.timedelta(0) < CLOCK_MARGIN


@pytest.mark.parametrize(
    "skew_seconds", [-3600, -120, -61, -1, 0, 1, 61, 90, 120, 3600]
)
def test_no_clock_the_tap_accepts_moves_the_bookmark_past_the_data_clock(
    skew_seconds: int,
) -> None:
    # The API's clock (Date) off the host's by any amount; the clock stamping
    # updated_at agrees with one of them. An update stamped at the start of the
    # sync, on either clock, must be at or after the next bookmark.
    api_clock = HOST_NOW + skew_seconds * SECOND
    start, _ = sync_start(api_clock, HOST_NOW)
    bookmark = next_bookmark(start)
    assert bookmark is not None
    for data_clock in (api_clock, HOST_NOW):
        assert bookmark <= data_clock - CLOCK_MARGIN


def test_a_fast_api_clock_then_corrected_loses_nothing() -> None:
    # Run 1: the API's clock (Date and data) 120 s fast. Then it is corrected,
    # and updates are stamped on the right time again, just after run 1 began.
    start, _ = sync_start(HOST_NOW + 120 * SECOND, HOST_NOW)
    bookmark = next_bookmark(start)
    assert bookmark is not None
    later_updates = [HOST_NOW + n * SECOND for n in range(10)]
    window, _ = emit_window(
        bookmark=bookmark,
        start_date=None,
        end_date=None,
        lookback=dt.timedelta(0),
        clocks=(HOST_NOW + MINUTE, HOST_NOW + MINUTE),
    )
    assert window.wanted(later_updates, lambda moment: moment) == later_updates


def test_created_since_is_the_start_less_the_margin_or_a_wide_bound() -> None:
    assert created_since(HOST_NOW, HOST_NOW) == HOST_NOW - CLOCK_MARGIN
    assert created_since(None, HOST_NOW) == HOST_NOW - MAX_CLOCK_SKEW


BOOKMARK = dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
START_DATE = dt.datetime(2025, 1, 1, tzinfo=UTC)
LOOKBACK = dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("bookmark", "start_date", "start", "set_aside"),
    [
        (None, None, None, False),
        (None, START_DATE, START_DATE, False),
        (BOOKMARK, None, BOOKMARK - LOOKBACK, False),
        (BOOKMARK, START_DATE, BOOKMARK - LOOKBACK, False),
        (START_DATE, BOOKMARK, BOOKMARK, False),  # start_date later: it wins
        # A bookmark ahead of both clocks (year 2999, or set while a clock had
        # jumped) would hide every update until then: start over.
        (HOST_NOW.replace(year=2999), START_DATE, START_DATE, True),
        (HOST_NOW.replace(year=2999), None, None, True),
        (HOST_NOW + 2 * MINUTE, None, None, True),
        (HOST_NOW + MINUTE / 2, None, None, True),
        (HOST_NOW, None, HOST_NOW - LOOKBACK, False),
        # Rounded down to the second: a record of the same second is kept.
        (BOOKMARK.replace(microsecond=500000), None, BOOKMARK - LOOKBACK, False),
    ],
)
def test_the_window_starts_at_the_bookmark_less_the_lookback(
    bookmark: dt.datetime | None,
    start_date: dt.datetime | None,
    start: dt.datetime | None,
    set_aside: bool,  # noqa: FBT001
) -> None:
    window, aside = emit_window(
        bookmark=bookmark,
        start_date=start_date,
        end_date=None,
        lookback=LOOKBACK,
        clocks=(HOST_NOW + MINUTE, HOST_NOW),
    )
    assert (window.start, aside) == (start, set_aside)


def test_a_bookmark_later_than_either_clock_now_is_set_aside() -> None:
    # Under the rule, a bookmark is always before both clocks; one between them
    # means a clock went back since (updates are now stamped before it).
    window, aside = emit_window(
        bookmark=HOST_NOW - MINUTE,
        start_date=None,
        end_date=None,
        lookback=dt.timedelta(0),
        clocks=(HOST_NOW - 10 * MINUTE, HOST_NOW),
    )
    assert aside
    assert window.start is None


def test_the_window_keeps_records_updated_from_its_start_to_before_its_end() -> None:
    start, end = HOST_NOW - MINUTE, HOST_NOW
    moments = [start - SECOND, start, HOST_NOW - SECOND, end, end + SECOND]
    same = operator.itemgetter(0)
    records = [(moment,) for moment in moments]
    assert Window(start, end).wanted(records, same) == [
        (start,),
        (HOST_NOW - SECOND,),
    ]
    assert Window().wanted(records, same) == records
