"""The single reads of the narrow walk follow every HTTP rule a page does.

``GET /v1/enrollments/{id}`` goes through the requester's one retry loop: a 5xx
is retried with one warning, a rejected token stops the sync, an answer that
is not the record asked for, or breaks the schema, stops it with one line and
the state unmoved; text a warehouse cannot store is replaced and named. With
``campaign_ids`` each campaign keeps its own open set.
"""

from __future__ import annotations

import json
import logging
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.errors import BadResponseError, TokenRejectedError
from tap_reviewrover.open_state import STATE_KEY
from tests.conftest import attempt_sync
from tests.open_account import Account, account_of, kept_open_ids, walks

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from reviewrover_sandbox import ActivityLog

    from tests.conftest import SyncOutput

pytestmark = pytest.mark.usefixtures("each_mode")


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


def first_read(log: ActivityLog) -> int:
    """The id the single reads ask for first (ascending)."""
    return min(*log.completed, *log.open_deleted)


def failed(account: Account, state: dict[str, t.Any]) -> tuple[SyncOutput, Exception]:
    output, error = attempt_sync(account.config(), state=state)
    assert error is not None, "the sync did not fail"
    for written in output.states:
        assert written == state  # no STATE moved the bookmark or the open set
    return output, error


def test_a_failed_single_read_is_retried_with_one_warning(
    account: Account, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    first, log = an_hour_later(account)
    read = first_read(log)
    account.sandbox.faults.add(Fault.status(503), path="enrollment", page=read)
    output, requests = account.sync(state=first.final_state)
    assert sorted(output.ids) == sorted(log.changed - log.changed_while_completed)
    assert requests["one"] == len(log.completed) + len(log.open_deleted) + 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    retried = [w for w in warnings if w.startswith("Request for record")]
    assert len(retried) == 1
    assert retried[0].startswith(
        f"Request for record {read} of enrollments failed (HTTP 503 Service "
        "Unavailable: "
    )
    assert len(waits) == 1


def test_a_single_read_whose_body_is_not_json_is_retried(
    account: Account, waits: list[float]
) -> None:
    first, log = an_hour_later(account)
    read = first_read(log)
    account.sandbox.faults.add(
        Fault.raw(200, b"<html>busy</html>", content_type="text/html"),
        path="enrollment",
        page=read,
    )
    output, _ = account.sync(state=first.final_state)
    assert sorted(output.ids) == sorted(log.changed - log.changed_while_completed)
    assert len(waits) == 1


def test_a_token_rejected_on_a_single_read_stops_with_the_state_unmoved(
    account: Account,
) -> None:
    first, _ = an_hour_later(account)
    account.sandbox.faults.add(Fault.status(401), path="enrollment")
    _, error = failed(account, first.final_state)
    assert isinstance(error, TokenRejectedError)
    assert "ReviewRover rejected the API token (HTTP 401" in str(error)


def record_json(account: Account, enrollment_id: int, **changes: t.Any) -> bytes:
    record = account.sandbox.store.get(enrollment_id)
    assert record is not None
    return json.dumps({**record, **changes}).encode()


def test_a_single_read_answered_with_another_record_stops(account: Account) -> None:
    first, log = an_hour_later(account)
    read = first_read(log)
    other = record_json(account, 1)
    account.sandbox.faults.add(Fault.raw(200, other), path="enrollment", page=read)
    _, error = failed(account, first.final_state)
    assert isinstance(error, BadResponseError)
    assert str(error) == (
        f"ReviewRover answered the request for record {read} of enrollments with a "
        "record of {'id': 1}, not of this partition: the sync stopped rather than "
        "load it under this partition's bookmark."
    )


def test_a_single_read_that_breaks_the_schema_stops_naming_it(
    account: Account,
) -> None:
    first, log = an_hour_later(account)
    read = min(log.completed)
    bad = record_json(account, read, completed="yes")
    account.sandbox.faults.add(Fault.raw(200, bad), path="enrollment", page=read)
    _, error = failed(account, first.final_state)
    assert isinstance(error, BadResponseError)
    assert str(error) == (
        f"Unexpected answer from ReviewRover for record {read} of enrollments: "
        f"record 1 (id {read}): `completed`: Expected `bool | null`, got `str`."
    )


def test_text_a_warehouse_cannot_store_in_a_single_read_is_replaced_and_named(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    first, log = an_hour_later(account)
    read = min(log.completed)
    nul = record_json(account, read, contact_id="cont_\u0000x")
    account.sandbox.faults.add(Fault.raw(200, nul), path="enrollment", page=read)
    output, _ = account.sync(state=first.final_state)
    record = output.records[output.ids.index(read)]
    assert record["contact_id"] == "cont_\ufffdx"
    assert f"record id {read}: `contact_id` (a NUL character)" in caplog.text


@pytest.fixture
def campaigns(account: Account) -> list[str]:
    records = account.sandbox.store.all_records()
    return sorted({r["campaign_id"] for r in records})[:2]


def test_each_campaign_keeps_its_own_open_set(
    account: Account, campaigns: list[str]
) -> None:
    first, log = an_hour_later(account, campaign_ids=campaigns)
    before = len(account.sandbox.requests)
    output, _ = account.sync(state=first.final_state, campaign_ids=campaigns)
    store = account.sandbox.store
    in_campaigns = {
        i
        for i in log.changed - log.changed_while_completed
        if (r := store.get(i)) is not None and r["campaign_id"] in campaigns
    }
    assert sorted(output.ids) == sorted(in_campaigns)
    for position, campaign in enumerate(campaigns):
        kept = kept_open_ids(output, partition=position)
        assert kept == sorted(
            r["id"]
            for r in store.all_records()
            if not r["completed"] and r["campaign_id"] == campaign
        )
        partition = output.final_state["bookmarks"]["enrollments"]["partitions"]
        assert partition[position]["context"] == {"campaign_id": campaign}
        assert STATE_KEY in partition[position]
    reads = [r for r in account.sandbox.requests[before:] if r.path.count("/") > 3]
    assert reads  # enrollments of these campaigns completed since
    assert all(r.query == {} for r in reads)  # by id alone
    assert walks(account.sandbox, before)["open"] >= 2


def test_a_single_read_of_another_campaign_stops(
    account: Account, campaigns: list[str]
) -> None:
    first, log = an_hour_later(account, campaign_ids=campaigns)
    store = account.sandbox.store
    read = min(
        i
        for i in log.completed
        if (r := store.get(i)) is not None and r["campaign_id"] == campaigns[0]
    )
    elsewhere = record_json(account, read, campaign_id="camp_elsewhere")
    account.sandbox.faults.add(Fault.raw(200, elsewhere), path="enrollment", page=read)
    _, error = attempt_sync(
        account.config(campaign_ids=campaigns), state=first.final_state
    )
    assert isinstance(error, BadResponseError)
    assert "with a record of {'campaign_id': 'camp_elsewhere'}, not of this " in (
        str(error)
    )
    assert f"partition for {{'campaign_id': '{campaigns[0]}'}}" in str(error)


def test_an_api_that_ignores_completed_false_stops_the_sync(account: Account) -> None:
    first, _ = an_hour_later(account)

    def one_completed(records: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        return [{**records[0], "completed": True}, *records[1:]]

    # Only the open walk reads page 5; its first record comes back completed.
    account.sandbox.faults.add(Fault.records(one_completed), page=5, times=None)
    _, error = failed(account, first.final_state)
    assert isinstance(error, BadResponseError)
    assert "of completed True, while only completed False was asked for: the API " in (
        str(error)
    )
