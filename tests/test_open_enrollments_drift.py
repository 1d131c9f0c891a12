"""The narrow walk while the list changes under it, and killed part-way.

Changes made between two pages of each walk (inserts, completions, reopens,
deletions) and between the walks: every enrollment present for the whole sync
and changed before it is emitted by it; one changed during it by it or by the
next; the open set the state keeps is the API's once the next sync is done. A
sync killed at any walk leaves the previous state, and the next run from it
loses nothing.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import typing as t

import pytest

from tap_reviewrover.open_state import STATE_KEY
from tests.conftest import clean_env, parse_messages, tap_command
from tests.open_account import Account, account_of, kept_open_ids, summary_of

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from reviewrover_sandbox import ActivityLog

    from tests.conftest import SyncOutput

pytestmark = pytest.mark.usefixtures("each_mode")


@pytest.fixture
def account(caplog: pytest.LogCaptureFixture) -> Iterator[Account]:
    caplog.set_level(logging.INFO)
    yield from account_of(2000, 0.05)


def an_hour_later(account: Account) -> tuple[SyncOutput, ActivityLog]:
    """The first sync (every page), then an hour of activity."""
    account.at(30)
    first = account.first_sync()
    account.at(20)
    log = account.use()
    account.at(10)
    return first, log


def open_in_api_order(account: Account) -> list[int]:
    return [r["id"] for r in account.sandbox.store.all_records() if not r["completed"]]


def completed_in_api_order(account: Account) -> list[int]:
    return [r["id"] for r in account.sandbox.store.all_records() if r["completed"]]


def nothing_lost(
    account: Account,
    log: ActivityLog,
    during: set[int],
    gone: set[int],
    outputs: tuple[SyncOutput, SyncOutput],
) -> None:
    """The changes before the sync are in it, those during it in it or the next."""
    this, following = outputs
    before = log.changed - log.changed_while_completed - gone
    assert before <= set(this.ids)
    assert during - gone <= set(this.ids) | set(following.ids)
    assert len(this.ids) == len(set(this.ids))  # each once
    assert kept_open_ids(following) == account.open_ids()


def test_inserts_completions_and_deletes_between_pages_of_the_newest(
    account: Account,
) -> None:
    first, log = an_hour_later(account)
    newest = account.sandbox.store.ids_in_api_order()[:10]  # page 1
    changed: set[int] = set()

    def churn(page: int, _: int, query: dict[str, str]) -> None:
        if page == 2 and "completed" not in query and not changed:
            changed.update(
                account.sandbox.store.create("camp_new", f"cont_{n}")["id"]
                for n in range(3)
            )
            account.sandbox.store.delete(newest[0])
            done = next(i for i in newest[1:] if i in log.created)
            account.sandbox.store.update(done, completed=True)
            changed.add(done)

    account.sandbox.on_list_request(churn, with_query=True)
    this, _ = account.sync(state=first.final_state)
    assert changed, "the list did not change during the walk"
    following, _ = account.sync(state=this.final_state)
    nothing_lost(account, log, changed, {newest[0]}, (this, following))


def test_completions_reopens_inserts_and_deletes_between_pages_of_the_open(
    account: Account,
) -> None:
    first, log = an_hour_later(account)
    open_ids = open_in_api_order(account)
    reopen = next(i for i in completed_in_api_order(account) if i not in log.changed)
    changed: set[int] = set()
    gone = {open_ids[25]}

    def churn(page: int, _: int, query: dict[str, str]) -> None:
        if page == 2 and query.get("completed") == "false" and not changed:
            store = account.sandbox.store
            store.update(open_ids[3], completed=True)  # read already: pulls up
            store.delete(open_ids[25])  # not read yet
            store.update(reopen, completed=False)  # among the newest open ones
            changed.update(
                {open_ids[3], reopen, store.create("camp_new", "cont_new")["id"]}
            )

    account.sandbox.on_list_request(churn, with_query=True)
    this, _ = account.sync(state=first.final_state)
    assert changed, "the list did not change during the walk"
    following, _ = account.sync(state=this.final_state)
    nothing_lost(account, log, changed, gone, (this, following))


def test_an_open_one_the_open_walk_skips_is_read_alone(
    account: Account, each_mode: int
) -> None:
    # Between two pages, one completed above and one reopened below: the total
    # stays, the records after the completion move up one place, and the
    # first of the next page is never served. It was open at the last sync,
    # so the single reads find it.
    first, log = an_hour_later(account)
    open_ids = open_in_api_order(account)
    skipped = open_ids[30]  # the first of page 4
    older = account.sandbox.store.get(open_ids[60])
    assert older is not None
    reopen = next(
        r["id"]
        for r in account.sandbox.store.all_records()
        if r["completed"]
        and r["created_at"] < older["created_at"]
        and r["id"] not in log.changed
    )
    assert skipped not in log.changed
    done: list[int] = []

    def skip_one(page: int, _: int, query: dict[str, str]) -> None:
        if page == 4 and query.get("completed") == "false" and not done:
            done.append(page)
            account.sandbox.store.update(open_ids[25], completed=True)
            account.sandbox.store.update(reopen, completed=False)

    account.sandbox.on_list_request(skip_one, with_query=True)
    this, requests = account.sync(state=first.final_state)
    assert done
    assert set(account.open_ids()) <= set(kept_open_ids(this))  # none missing
    if each_mode == 1:  # one page at a time: exactly the skip above
        left = len(log.completed) + len(log.open_deleted)
        assert requests["one"] == left + 1
    following, _ = account.sync(state=this.final_state)
    nothing_lost(account, log, {open_ids[25], reopen}, set(), (this, following))


def test_deletes_and_reopens_before_the_single_reads(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account)
    left = sorted(log.completed)  # open at the last sync, completed since
    deleted, reopened = left[-1], left[-2]
    lock, done = threading.Lock(), threading.Event()

    def churn(_: int, __: int) -> None:
        with lock:  # every read waits here: none is answered before the change
            if not done.is_set():
                done.set()
                account.sandbox.store.delete(deleted)
                account.sandbox.store.update(reopened, completed=False)

    account.sandbox.on_list_request(churn, path="enrollment")
    this, requests = account.sync(state=first.final_state)
    assert requests["one"] == len(left) + len(log.open_deleted)
    assert deleted not in this.ids
    assert reopened in this.ids
    assert this.records[this.ids.index(reopened)]["completed"] is False
    assert reopened in kept_open_ids(this)
    assert f"{len(log.open_deleted) + 1} deleted (404)" in summary_of(caplog.text)
    following, _ = account.sync(state=this.final_state)
    nothing_lost(account, log, {reopened}, {deleted}, (this, following))


def test_an_enrollment_completed_before_the_open_walk_reaches_it_is_read_alone(
    account: Account,
) -> None:
    first, log = an_hour_later(account)
    oldest_open = min(set(open_in_api_order(account)) - log.changed)  # last page

    def complete_it_before_the_last_open_page(
        page: int, _: int, query: dict[str, str]
    ) -> None:
        if query.get("completed") == "false" and page == 11:
            account.sandbox.store.update(oldest_open, completed=True)

    account.sandbox.on_list_request(
        complete_it_before_the_last_open_page, with_query=True
    )
    this, requests = account.sync(state=first.final_state)
    assert requests["one"] == len(log.completed) + len(log.open_deleted) + 1
    assert this.records[this.ids.index(oldest_open)]["completed"] is True
    following, _ = account.sync(state=this.final_state)
    nothing_lost(account, log, {oldest_open}, set(), (this, following))


# Killed part-way


def run_and_kill(
    account: Account,
    tmp_path: Path,
    state: dict[str, t.Any],
    hold: Callable[[int, dict[str, str]], bool],
    *,
    single_read: bool = False,
) -> list[dict[str, t.Any]]:
    """Run the tap; SIGKILL it while the sandbox holds the request ``hold`` picks."""
    reached, release = threading.Event(), threading.Event()

    def wait_there(page: int, _: int, query: dict[str, str] | None = None) -> None:
        if hold(page, query or {}) and not release.is_set():
            reached.set()
            release.wait(timeout=60)

    if single_read:
        account.sandbox.on_list_request(wait_there, path="enrollment")
    else:
        account.sandbox.on_list_request(wait_there, with_query=True)
    (tmp_path / "config.json").write_text(json.dumps(account.config()))
    (tmp_path / "state.json").write_text(json.dumps(state))
    command = tap_command(
        "--config",
        str(tmp_path / "config.json"),
        "--state",
        str(tmp_path / "state.json"),
    )
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as process:
        try:
            assert reached.wait(timeout=60), "the tap never asked for that"
            process.send_signal(signal.SIGKILL)
            stdout, _ = process.communicate(timeout=60)
        finally:
            release.set()
    assert process.returncode == -signal.SIGKILL
    return parse_messages(stdout[: stdout.rfind("\n") + 1])


HOLDS: dict[str, tuple[Callable[[int, dict[str, str]], bool], bool]] = {
    "newest": (lambda page, query: page == 2 and "completed" not in query, False),
    "open": (lambda page, query: page == 5 and "completed" in query, False),
    "single read": (lambda _, __: True, True),
}


@pytest.mark.parametrize("where", list(HOLDS))
def test_a_sync_killed_in_any_walk_keeps_the_state_and_the_next_loses_nothing(
    account: Account, tmp_path: Path, where: str
) -> None:
    first, log = an_hour_later(account)
    hold, single_read = HOLDS[where]
    killed = run_and_kill(
        account, tmp_path, first.final_state, hold, single_read=single_read
    )
    states = [m["value"] for m in killed if m["type"] == "STATE"]
    assert states, "the tap writes the state it starts from before any record"
    for state in states:
        assert state == first.final_state  # neither bookmark nor open set moved
    before = first.final_state["bookmarks"]["enrollments"][STATE_KEY]
    assert before["open_count"] == 100

    resumed, _ = account.sync(state=states[-1])
    assert sorted(resumed.ids) == sorted(log.changed - log.changed_while_completed)
    assert kept_open_ids(resumed) == account.open_ids()
