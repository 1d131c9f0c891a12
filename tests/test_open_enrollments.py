"""``incremental_strategy: open_enrollments`` against the sandbox, over HTTP.

Each test runs an account of 2,000 enrollments (100 open) through a first sync
(every page; 100 a page where only the state it leaves counts, see
``Account.first_sync``), an hour of activity and the next syncs, reading pages
of 10, one at a time and four at a time. The clock moves between them (see
``tests/open_account.py``) so that each sync's window holds exactly the changes
since the last.
"""

from __future__ import annotations

import logging
import re
import typing as t

import pytest

from tap_reviewrover.id_sets import decode_ids
from tap_reviewrover.open_state import STATE_KEY
from tap_reviewrover.tap import TapReviewRover
from tests.open_account import Account, account_of, kept_open_ids, summary_of

if t.TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.usefixtures("each_mode")

PAGES = 200  # 2,000 enrollments, 10 a page


@pytest.fixture
def account(caplog: pytest.LogCaptureFixture) -> Iterator[Account]:
    caplog.set_level(logging.INFO)  # the summary line, and why every page is read
    yield from account_of(2000, 0.05)


def pages_now(account: Account) -> int:
    return -(-len(account.sandbox.store) // 10)


def test_the_first_sync_reads_every_page_and_keeps_the_open_ids(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.at(30)
    first, requests = account.sync()
    assert first.records == account.sandbox.store.all_records()
    assert requests == {"list": PAGES}
    assert "Reading every page of enrollments: the state holds no open set yet." in (
        caplog.text
    )
    stream = first.final_state["bookmarks"]["enrollments"]
    data = stream[STATE_KEY]
    assert set(stream) == {"replication_key", "replication_key_value", STATE_KEY}
    assert set(data) == {
        "format",
        "bookmark",
        "open_count",
        "open_ids",
        "full_walk_bookmark",
        "completed_emitted",
        "list_total",
        "newest_pages",
        "single_reads",
    }
    open_ids = account.open_ids()
    assert list(decode_ids(data["open_ids"], most=10**6)) == open_ids
    assert data["format"] == 1
    assert data["open_count"] == len(open_ids)
    assert data["bookmark"] == stream["replication_key_value"] == first.bookmark
    assert data["full_walk_bookmark"] == first.bookmark  # the same rule
    assert data["list_total"] == 2000
    assert data["completed_emitted"] == ""  # nothing changed since this walk
    assert len(str(data)) < 1000


def test_an_hour_costs_the_new_pages_the_open_pages_and_what_left(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.at(30)
    first = account.first_sync()
    open_before = account.open_ids()
    account.at(20)
    log = account.use()
    account.at(10)
    caplog.clear()
    narrow, requests = account.sync(state=first.final_state)

    # Every change but the edits of completed enrollments, each once.
    assert sorted(narrow.ids) == sorted(log.changed - log.changed_while_completed)
    for record in narrow.records:
        assert record == account.sandbox.store.get(record["id"])
    # Two pages of the 15 new ones (ten a page, the second reaching back),
    # the open ones, and one read for each that was open and is no more.
    left = len(log.completed) + len(log.open_deleted)
    assert requests == {"list": 2, "open": 11, "one": left}
    assert left == len(set(open_before) - set(account.open_ids()))
    assert kept_open_ids(narrow) == account.open_ids()
    summary = summary_of(caplog.text)
    # The summary counts every request sent: with pages read ahead of their turn,
    # a tie group split by a page edge may have pages read again around it.
    figures = re.search(
        r"(\d+) pages read, 0 retries, (\d+) drift re-reads, 0 inconsistent pages "
        r"re-read, 2 pages of new enrollments, (\d+) pages of open enrollments, "
        rf"{left} enrollments read one by one, 2 deleted \(404\), 104 open now, ",
        summary,
    )
    assert figures is not None, summary
    pages, again, open_pages = map(int, figures.groups())
    assert pages == 2 + open_pages
    assert pages - again == 13  # each page used once: those re-read were stale
    deleted = ", ".join(map(str, sorted(log.open_deleted)))
    assert (
        f"2 enrollments open at the last sync were deleted since (HTTP 404): ids "
        f"{deleted}; their rows stay in the target until the FULL_TABLE job "
        "retires them."
    ) in caplog.text
    assert "Reading every page" not in caplog.text
    # The SDK's count: every request whose answer was used, 404s too.
    counted = f'"metric":"http_request_count","value":{pages - again + left},'
    assert counted in caplog.text  # the SDK's count: every request, 404s too


def test_a_walk_of_every_page_then_emits_the_edits_of_completed_enrollments(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.at(30)
    first = account.first_sync()
    account.at(20)
    log = account.use()
    account.at(10)
    narrow, _ = account.sync(state=first.final_state)
    assert not log.changed_while_completed & set(narrow.ids)
    account.at(0)
    caplog.clear()
    full, requests = account.sync(state=narrow.final_state, full_scan_every_hours=0)

    assert requests == {"list": pages_now(account)}
    assert "Reading every page of enrollments: full_scan_every_hours is 0." in (
        caplog.text
    )
    # Nothing changed since the narrow sync: what it emits is what changed
    # since the last walk of every page, not open then, now completed.
    since_first_walk = {*log.completed_edited, *log.completed, *log.created_completed}
    assert sorted(full.ids) == sorted(since_first_walk)
    # Only the edits of completed enrollments were never emitted before.
    summary = summary_of(caplog.text)
    assert "4 edits of completed enrollments a narrow walk would miss" in summary
    assert kept_open_ids(full) == account.open_ids()

    # The next walk of every page counts from this one: nothing missed since.
    account.at(-10)
    caplog.clear()
    again, _ = account.sync(state=full.final_state, full_scan_every_hours=0)
    assert again.ids == []
    assert "0 edits of completed enrollments a narrow walk would miss" in (
        summary_of(caplog.text)
    )


def test_the_narrow_walks_miss_nothing_else_hour_after_hour(account: Account) -> None:
    account.at(60)
    output = account.first_sync()
    for hour in range(3):
        account.at(50 - 20 * hour)
        log = account.use()
        account.at(40 - 20 * hour)
        output, requests = account.sync(state=output.final_state)
        assert sorted(output.ids) == sorted(log.changed - log.changed_while_completed)
        assert requests["list"] == 2
        assert kept_open_ids(output) == account.open_ids()


@pytest.mark.parametrize(("every_hours", "full"), [(1, True), (2, False)])
def test_every_page_is_read_once_the_last_walk_of_all_is_older_than_the_setting(
    account: Account,
    caplog: pytest.LogCaptureFixture,
    every_hours: int,
    full: bool,  # noqa: FBT001
) -> None:
    account.at(59)  # an hour before now, less the minute of margin
    first = account.first_sync(full_scan_every_hours=every_hours)
    account.at(0)
    caplog.clear()
    _, requests = account.sync(
        state=first.final_state, full_scan_every_hours=every_hours
    )
    due = f"more than full_scan_every_hours ({every_hours}) ago."
    assert (due in caplog.text) is full
    assert ("open" in requests) is not full
    assert requests["list"] == (PAGES if full else 1)


def test_the_default_strategy_is_the_full_scan_as_before(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.at(30)
    output, requests = account.sync(incremental_strategy="full_scan")
    assert requests == {"list": PAGES}
    assert STATE_KEY not in output.final_state["bookmarks"]["enrollments"]
    summary = summary_of(caplog.text)
    assert summary.split(", ")[-2] == "0 inconsistent pages re-read"  # as before


def test_a_full_table_copy_is_the_full_scan_whatever_the_strategy(
    account: Account,
) -> None:
    config = account.config()
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    account.at(30)
    output, requests = account.sync(catalog=catalog)
    assert requests == {"list": PAGES}
    assert STATE_KEY not in output.final_state["bookmarks"]["enrollments"]
    assert any(m["type"] == "ACTIVATE_VERSION" for m in output.messages)


def test_a_change_of_completion_seen_late_is_emitted_all_the_same(
    account: Account,
) -> None:
    # Completed and reopened, stamped before the last sync started, visible only
    # after it (replica lag beyond lookback_seconds: 0): the window cannot show
    # them, the change of completion does.
    account.at(30)
    first = account.first_sync()
    records = account.sandbox.store.all_records()
    done = next(r["id"] for r in records if not r["completed"])
    reopened = next(r["id"] for r in records if r["completed"])
    account.at(25)
    account.sandbox.store.update_late(done, 10 * 60, completed=True)
    account.sandbox.store.update_late(reopened, 10 * 60, completed=False)
    account.at(20)
    second, _ = account.sync(state=first.final_state)
    assert {done, reopened}.isdisjoint(second.ids)  # not visible yet
    account.at(10)
    assert account.sandbox.store.late_changes == 0
    narrow, _ = account.sync(state=second.final_state)
    full_scan, _ = account.sync(
        state=second.final_state, incremental_strategy="full_scan"
    )
    assert sorted(narrow.ids) == sorted([done, reopened])
    assert full_scan.ids == []  # updated before its window: a full scan misses them
    assert kept_open_ids(narrow) == account.open_ids()
