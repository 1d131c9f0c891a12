"""The narrow walk's state and its fallbacks: when every page is read, and why.

A lost state costs one walk of every page; a bad one is one clear line; a state
of a million open ids is read, and set aside for a walk of every page when it
would cost more than one; so is one that outgrew ``max_open_ids``, or a narrow
walk that would cost more than half of a walk of every page.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import typing as t
from array import array
from datetime import datetime, timedelta, timezone
from itertools import accumulate

import pytest
from reviewrover_sandbox import Activity, Clock, EnrollmentStore, SandboxServer

from tap_reviewrover.id_sets import encode_ids
from tap_reviewrover.open_state import STATE_KEY
from tests.conftest import TOKEN, assert_one_error_line, logged_at, run_cli
from tests.open_account import (
    SETUP_PAGE_SIZE,
    Account,
    account_of,
    kept_open_ids,
    summary_of,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from reviewrover_sandbox import ActivityLog

    from tests.conftest import SyncOutput

# The state is the same whatever the walk mode: these run with reading ahead
# (the default); the walks themselves run in both modes in the other modules.


@pytest.fixture
def account(caplog: pytest.LogCaptureFixture) -> Iterator[Account]:
    caplog.set_level(logging.INFO)
    yield from account_of(2000, 0.05)


def an_hour_later(
    account: Account, **settings: t.Any
) -> tuple[SyncOutput, ActivityLog]:
    account.at(30)
    first = account.first_sync(**settings)
    account.at(20)
    log = account.use()
    account.at(10)
    return first, log


def narrow_data(output: SyncOutput) -> dict[str, t.Any]:
    return t.cast(
        "dict[str, t.Any]", output.final_state["bookmarks"]["enrollments"][STATE_KEY]
    )


def test_a_walk_of_every_page_leaves_the_same_state_at_any_page_size() -> None:
    # What ``Account.first_sync`` relies on: the tests start from a first sync
    # of 100 a page, then sync 10 a page. On a clock that stands still, so
    # that both syncs start at the same second.
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
    clock = Clock(source=lambda: start)
    store = EnrollmentStore.seeded(2000, completed_share=0.95, seed=1, clock=clock)
    with SandboxServer(store, token=TOKEN) as sandbox:
        account = Account(sandbox)
        of_10, requests = account.sync()
        assert requests == {"list": 200}
        before = len(sandbox.requests)
        of_100 = account.first_sync()
        assert {r.query["limit"] for r in sandbox.requests[before:]} == {
            str(SETUP_PAGE_SIZE)
        }
    assert of_100.final_state == of_10.final_state
    assert of_100.records == of_10.records == store.all_records()
    assert narrow_data(of_10)["open_count"] == 100


def test_a_lost_open_set_costs_one_walk_of_every_page(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account)
    lost = copy.deepcopy(first.final_state)
    del lost["bookmarks"]["enrollments"][STATE_KEY]
    caplog.clear()
    output, requests = account.sync(state=lost)
    assert requests == {"list": 202}
    assert "Reading every page of enrollments: the state holds no open set yet." in (
        caplog.text
    )
    # It emits what the full scan does from the same bookmark, no more.
    full_scan, _ = account.sync(state=lost, incremental_strategy="full_scan")
    assert sorted(output.ids) == sorted(full_scan.ids) == sorted(log.changed)
    assert kept_open_ids(output) == account.open_ids()
    _, requests = account.sync(state=output.final_state)
    assert requests["open"] == 11  # narrow again


def test_a_lost_state_costs_one_walk_of_every_page_emitting_everything(
    account: Account,
) -> None:
    an_hour_later(account)
    output, requests = account.sync(state=None)
    assert requests == {"list": 202}
    assert output.records == account.sandbox.store.all_records()
    assert kept_open_ids(output) == account.open_ids()


def test_a_state_of_another_strategys_sync_is_not_trusted(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account)
    full_scan, _ = account.sync(
        state=first.final_state, incremental_strategy="full_scan"
    )
    assert sorted(full_scan.ids) == sorted(log.changed)
    kept = full_scan.final_state["bookmarks"]["enrollments"]
    assert kept[STATE_KEY] == narrow_data(first)  # left as it was, now stale
    account.at(0)
    second = account.use()
    caplog.clear()
    output, requests = account.sync(state=full_scan.final_state)
    assert requests["list"] == -(-len(account.sandbox.store) // 10)
    assert "(a sync of another strategy ran)" in caplog.text
    assert sorted(output.ids) == sorted(second.changed)  # since the full scan's


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda _: "not an object", "it is a str, not an object"),
        (lambda data: {**data, "format": 9}, "its format is 9, not 1"),
        (lambda data: {**data, "open_ids": "%%"}, "its open_ids cannot be read: it"),
        (
            lambda data: {**data, "open_ids": encode_ids(range(1, 20))},
            "its open_ids cannot be read: it holds 19 values, more than 10",
        ),
        (lambda data: {**data, "open_count": -3}, "its open_count is -3, not a count"),
        (
            lambda data: {**data, "full_walk_bookmark": "soon"},
            "its full_walk_bookmark is 'soon', not a timestamp",
        ),
    ],
)
def test_a_bad_state_is_one_clear_line_and_emits_nothing(
    account: Account,
    tmp_path: Path,
    change: t.Callable[[dict[str, t.Any]], object],
    problem: str,
) -> None:
    account.at(30)
    first = account.first_sync(max_open_ids=10, full_scan_every_hours=1)
    state = copy.deepcopy(first.final_state)
    stream = state["bookmarks"]["enrollments"]
    stream[STATE_KEY] = change(stream[STATE_KEY])
    config = account.config(max_open_ids=10)
    run = run_cli(tmp_path, config, state_text=json.dumps(state))
    line = assert_one_error_line(
        run,
        "The state's 'open_enrollments' data for enrollments cannot be used: "
        + problem,
    )
    assert line.endswith(
        "Remove that key from the state (the next sync then reads every page once) "
        "or run with --full-refresh."
    )
    assert not [m for m in run.output.messages if m["type"] == "RECORD"]


def test_a_state_of_a_million_open_ids_is_read_then_replaced_by_a_walk_of_all(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account)
    state = copy.deepcopy(first.final_state)
    data = state["bookmarks"]["enrollments"][STATE_KEY]
    rng = random.Random(5)  # noqa: S311 - reproducible test data
    kept = kept_open_ids(first)  # and ids beyond the account's, a million in all
    gaps = rng.choices(range(1, 40), k=1_000_000 - len(kept))  # small: cached ints
    million = array("q", kept)
    million.extend(10_000 + value for value in accumulate(gaps))
    data.update(open_ids=encode_ids(million), open_count=len(million))
    assert len(json.dumps(state)) < 1_000_000
    caplog.clear()
    output, requests = account.sync(state=state)
    assert requests == {"list": 202}
    assert "a narrow walk would take about 100001 requests, more than half of the " in (
        caplog.text
    )
    assert kept_open_ids(output) == account.open_ids()
    assert sorted(output.ids) == sorted(log.changed)


def test_more_open_ones_than_max_open_ids_read_every_page_and_say_why(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account, max_open_ids=50)
    data = narrow_data(first)
    assert data["open_count"] == 100
    assert "open_ids" not in data  # not kept
    caplog.clear()
    output, requests = account.sync(state=first.final_state, max_open_ids=50)
    assert requests == {"list": 202}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "Reading every page of enrollments: 100 were open at the last sync, more "
        "than max_open_ids (50)."
    ) in warnings
    assert sorted(output.ids) == sorted(log.changed)


def test_a_narrow_walk_dearer_than_half_of_all_pages_reads_every_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for account in account_of(2000, 0.55):
        first, log = an_hour_later(account)
        caplog.clear()
        output, requests = account.sync(state=first.final_state)
        assert requests == {"list": 202}
        reason = (
            "a narrow walk would take about 113 requests, more than half of the 200"
        )
        assert f"Reading every page of enrollments: {reason} of a walk" in caplog.text
        assert sorted(output.ids) == sorted(log.changed)  # all: the walk of all


def test_too_many_left_since_the_last_sync_read_every_page_instead(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.at(30)
    first = account.first_sync()
    account.at(20)
    only_completions = Activity(0, 0, 0, 60, 0, 0, 0, 0)
    log = account.use(only_completions)
    account.at(10)
    caplog.clear()
    output, requests = account.sync(state=first.final_state, page_size=20)
    # The narrow walk's first page, then every page (page 1 counted once), and
    # no single read.
    assert requests == {"list": 100, "open": 2}
    assert (
        "Reading every page of enrollments: 60 enrollments open at the last sync "
        "are in neither walk, and reading each would take more than half of the "
        "100 requests of a walk of every page."
    ) in caplog.text
    assert set(log.completed) <= set(output.ids)
    assert kept_open_ids(output) == account.open_ids()
    # The summary counts every request: a tie group split by a page edge may be
    # read again when pages came ahead of their turn, so those are counted too.
    whole_list = account.raw_requests["list"] - 1
    assert whole_list >= 100
    assert (
        f"1 pages of new enrollments, 2 pages of open enrollments, {whole_list} "
        "pages of the whole list"
    ) in summary_of(caplog.text)


def test_a_bookmark_set_aside_reads_every_page_after_the_first(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = an_hour_later(account)
    ahead = copy.deepcopy(first.final_state)
    stream = ahead["bookmarks"]["enrollments"]
    stream["replication_key_value"] = "2099-01-01T00:00:00Z"  # edited, or a clock
    stream[STATE_KEY]["bookmark"] = "2099-01-01T00:00:00Z"
    caplog.clear()
    output, requests = account.sync(state=ahead)
    assert requests == {"list": 202}  # every page (the first read twice, once)
    assert "The bookmark, 2099-01-01T00:00:00Z, is later than" in caplog.text
    assert (
        "Reading every page of enrollments: the bookmark was set aside (see the "
        "warning above)."
    ) in caplog.text
    assert output.records[-len(account.sandbox.store) :] == (
        account.sandbox.store.all_records()  # from the beginning: everything
    )
    assert kept_open_ids(output) == account.open_ids()


def test_healthy_narrow_syncs_log_no_warning(tmp_path: Path) -> None:
    for account in account_of(2000, 0.05):  # on the real clock, as in production
        config = account.config(lookback_seconds=300)
        first = run_cli(tmp_path, config)
        assert first.returncode == 0, first.stderr
        account.use()
        second = run_cli(
            tmp_path, config, state_text=json.dumps(first.output.final_state)
        )
        assert second.returncode == 0, second.stderr
        for run in (first, second):
            assert logged_at(run.stderr, "WARNING", "ERROR", "CRITICAL") == []
        assert "pages of open enrollments" in summary_of(second.stderr)
