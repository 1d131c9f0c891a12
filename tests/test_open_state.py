"""The narrow walk's pure rules, table by table: its state, its choice, its emits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from array import array

import pytest

from tap_reviewrover.id_sets import encode_ids
from tap_reviewrover.open_state import (
    FORMAT,
    Choice,
    OpenState,
    choose_walk,
    kept_because,
    missed_edit,
    pages,
    too_costly,
)

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)
BOOKMARK = "2026-03-02T10:59:00Z"
HOUR = dt.timedelta(hours=1)
#: A state after a day of hourly narrow syncs: 5,000 open of 100,000.
USUAL = OpenState(
    bookmark=BOOKMARK,
    open_count=5000,
    open_ids=array("q", range(1, 5001)),
    full_walk_bookmark=NOW - 5 * HOUR,
    completed_emitted=array("q", [3, 9]),
    list_total=100_000,
    newest_pages=4,
    single_reads=150,
)


def choose(previous: OpenState | None, **overrides: t.Any) -> Choice:
    arguments: dict[str, t.Any] = {
        "bookmark": BOOKMARK,
        "now": NOW,
        "every_hours": 24,
        "max_open_ids": 1_000_000,
        "page_size": 100,
        **overrides,
    }
    return choose_walk(previous, **arguments)


@pytest.mark.parametrize(
    ("previous", "overrides", "reason"),
    [
        (USUAL, {}, None),
        (None, {}, "the state holds no open set yet"),
        (USUAL, {"bookmark": None}, "the state holds no bookmark"),
        (
            USUAL,
            {"bookmark": "2026-03-02T11:59:00Z"},
            (
                "goes with the bookmark 2026-03-02T10:59:00Z, not "
                "2026-03-02T11:59:00Z (a sync of another strategy ran)"
            ),
        ),
        (
            dataclasses.replace(USUAL, open_ids=None, open_count=1_200_000),
            {},
            "1200000 were open at the last sync, more than max_open_ids (1000000)",
        ),
        (USUAL, {"every_hours": 0}, "full_scan_every_hours is 0"),
        (USUAL, {"every_hours": 5}, "started 2026-03-02T07:00:00Z, more than "),
        (USUAL, {"every_hours": 6}, None),
        (
            dataclasses.replace(USUAL, full_walk_bookmark=None),
            {},
            "started never",
        ),
        # 4 + 50 + 150 = 204 requests, against 1,000 for every page.
        (dataclasses.replace(USUAL, single_reads=446), {}, None),  # 500: half
        (
            dataclasses.replace(USUAL, single_reads=447),
            {},
            "about 501 requests, more than half of the 1000",
        ),
        (
            dataclasses.replace(USUAL, open_count=55_000),  # 55 % open: 705
            {},
            "about 704 requests",
        ),
        (USUAL, {"page_size": 10}, None),  # 654 requests against 10,000
        (dataclasses.replace(USUAL, newest_pages=0), {}, None),  # at least one
    ],
)
def test_choose_walk(
    previous: OpenState | None, overrides: dict[str, t.Any], reason: str | None
) -> None:
    choice = choose(previous, **overrides)
    assert choice.full is (reason is not None)
    if reason is None:
        assert choice.reason is None
    else:
        assert choice.reason is not None
        assert reason in choice.reason


def test_only_outgrowing_max_open_ids_is_worth_a_warning() -> None:
    too_many = dataclasses.replace(USUAL, open_ids=None)
    assert choose(too_many).warn
    assert not choose(None).warn
    assert not choose(USUAL, every_hours=0).warn


@pytest.mark.parametrize(
    ("narrow", "full", "costly"),
    [(0, 1, False), (1, 2, False), (2, 2, True), (500, 1000, False), (501, 1000, True)],
)
def test_too_costly_is_more_than_half(
    narrow: int,
    full: int,
    costly: bool,  # noqa: FBT001
) -> None:
    assert too_costly(narrow, full) is costly


@pytest.mark.parametrize(
    ("records", "page_size", "requests"),
    [(0, 100, 1), (1, 100, 1), (100, 100, 1), (101, 100, 2), (5000, 100, 50)],
)
def test_pages(records: int, page_size: int, requests: int) -> None:
    assert pages(records, page_size) == requests


@pytest.mark.parametrize(
    ("open_now", "open_before", "missed", "kept"),
    [
        (True, False, False, "opened"),  # created, reopened: open, and new to us
        (False, True, False, "closed"),  # completed (or read as such) since
        (True, True, False, None),  # still open: the window decides
        (False, False, False, None),  # still completed: the window decides
        (False, False, True, "missed"),
        (True, None, False, None),  # no open set: the window alone
        (False, None, False, None),
        (False, None, True, "missed"),
        (True, False, True, "opened"),
    ],
)
def test_kept_because(
    open_now: bool,  # noqa: FBT001
    open_before: bool | None,  # noqa: FBT001
    missed: bool,  # noqa: FBT001
    kept: str | None,
) -> None:
    assert (
        kept_because(open_now=open_now, open_before=open_before, missed=missed) == kept
    )


CREATED_LONG_AGO = NOW - 400 * 24 * HOUR
NEWEST_SINCE = NOW - 2 * HOUR
REPAIR_SINCE = NOW - 20 * HOUR


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({}, True),  # completed, edited since the last walk of all, unseen
        ({"open_now": True}, False),  # open: walk (b) sees it
        ({"open_before": True}, False),  # open last time: walk (c) reads it
        ({"created": NEWEST_SINCE}, False),  # new: walk (a) reads it
        ({"created": NEWEST_SINCE - dt.timedelta(seconds=1)}, True),
        ({"updated": REPAIR_SINCE}, True),
        ({"updated": REPAIR_SINCE - dt.timedelta(seconds=1)}, False),  # before
        ({"emitted": True}, False),  # a narrow walk emitted this version
    ],
)
def test_missed_edit(
    changes: dict[str, t.Any],
    missed: bool,  # noqa: FBT001
) -> None:
    facts: dict[str, t.Any] = {
        "open_now": False,
        "open_before": False,
        "created": CREATED_LONG_AGO,
        "updated": NOW - 3 * HOUR,
        "newest_since": NEWEST_SINCE,
        "repair_since": REPAIR_SINCE,
        "emitted": False,
        **changes,
    }
    assert missed_edit(**facts) is missed


def test_the_state_reads_back_as_it_was_written() -> None:
    data = USUAL.to_state()
    assert data == {
        "format": FORMAT,
        "bookmark": BOOKMARK,
        "open_count": 5000,
        "open_ids": encode_ids(range(1, 5001)),
        "full_walk_bookmark": "2026-03-02T07:00:00Z",
        "completed_emitted": encode_ids([3, 9]),
        "list_total": 100_000,
        "newest_pages": 4,
        "single_reads": 150,
    }
    assert OpenState.parse(data, most=5000) == USUAL


def test_sets_too_large_to_keep_are_left_out() -> None:
    state = dataclasses.replace(USUAL, open_ids=None, completed_emitted=None)
    data = state.to_state()
    assert "open_ids" not in data
    assert "completed_emitted" not in data
    assert OpenState.parse(data, most=10) == state


GOOD = USUAL.to_state()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([1, 2], "it is a list, not an object"),
        ({**GOOD, "format": 2}, "its format is 2, not 1"),
        ({k: v for k, v in GOOD.items() if k != "format"}, "its format is None"),
        ({**GOOD, "open_count": -1}, "its open_count is -1, not a count"),
        ({**GOOD, "list_total": "100"}, "its list_total is '100', not a count"),
        ({**GOOD, "newest_pages": True}, "its newest_pages is True, not a count"),
        ({**GOOD, "single_reads": 1.5}, "its single_reads is 1.5, not a count"),
        ({**GOOD, "bookmark": 5}, "its bookmark is 5, not a timestamp"),
        (
            {**GOOD, "full_walk_bookmark": "yesterday"},
            "its full_walk_bookmark is 'yesterday', not a timestamp",
        ),
        ({**GOOD, "full_walk_bookmark": 7}, "its full_walk_bookmark is 7"),
        ({**GOOD, "open_ids": 12}, "its open_ids is a int, not text"),
        ({**GOOD, "open_ids": "%%%"}, "its open_ids cannot be read: it is not base64"),
        ({**GOOD, "completed_emitted": "QUJD"}, "its completed_emitted cannot be"),
    ],
)
def test_a_bad_state_names_its_problem(data: object, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(")):
        OpenState.parse(data, most=1_000_000)


def test_more_open_ids_than_max_open_ids_is_a_bad_state() -> None:
    with pytest.raises(ValueError, match="open_ids cannot be read: it holds"):
        OpenState.parse(GOOD, most=4999)
