"""Syncs against the sandbox: full and incremental reads that never lose a row."""

from __future__ import annotations

import datetime as dt
import math
import typing as t

import pytest

from tap_reviewrover.bookmarks import CLOCK_MARGIN
from tap_reviewrover.tap import TapReviewRover
from tap_reviewrover.timestamps import parse_timestamp
from tests.conftest import PAGE_SIZE, SEEDED, sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")


def test_a_full_sync_emits_every_enrollment_exactly_as_the_api_has_it(
    sandbox: SandboxServer,
) -> None:
    output = sync(tap_config(sandbox))
    assert output.records == sandbox.store.all_records()
    assert output.messages[0]["type"] == "SCHEMA"
    assert output.messages[0]["key_properties"] == ["id"]
    assert output.messages[0]["bookmark_properties"] == ["updated_at"]
    assert sandbox.list_request_count == math.ceil(SEEDED / PAGE_SIZE)


@pytest.mark.parametrize("page_size", [1, 7, 95, 100])
def test_an_unchanging_list_takes_one_request_per_page(
    sandbox: SandboxServer,
    page_size: int,
) -> None:
    output = sync(tap_config(sandbox, page_size=page_size))
    assert len(output.records) == SEEDED
    assert sandbox.list_request_count == math.ceil(SEEDED / page_size)
    assert {r.query["limit"] for r in sandbox.requests} == {str(page_size)}


def test_an_empty_account_takes_one_request(empty_sandbox: SandboxServer) -> None:
    output = sync(tap_config(empty_sandbox))
    assert output.records == []
    assert empty_sandbox.list_request_count == 1
    assert output.bookmark is not None


def test_the_final_state_is_a_plain_bookmark_from_the_api_clock(
    sandbox: SandboxServer,
) -> None:
    sandbox.clock.offset_seconds = -1800  # the API's clock is half an hour behind ours
    before = sandbox.clock.now().replace(microsecond=0)
    output = sync(tap_config(sandbox))
    after = sandbox.clock.now()
    assert output.final_state == {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": output.bookmark,
            },
        },
    }
    assert output.bookmark is not None
    bookmark = parse_timestamp(output.bookmark)
    assert before - CLOCK_MARGIN <= bookmark <= after - CLOCK_MARGIN


def test_the_next_sync_emits_only_what_changed(sandbox: SandboxServer) -> None:
    first = sync(tap_config(sandbox))
    unchanged = sync(tap_config(sandbox), state=first.final_state)
    assert unchanged.records == []
    assert sandbox.list_request_count == 2 * math.ceil(SEEDED / PAGE_SIZE)

    changed_ids = sandbox.store.ids_in_api_order()[::30]
    for enrollment_id in changed_ids:
        sandbox.store.update(enrollment_id, completed=True)
    created = sandbox.store.create("camp_new", "cont_new")
    second = sync(tap_config(sandbox), state=unchanged.final_state)
    assert sorted(second.ids) == sorted([*changed_ids, created["id"]])
    completed = {r["id"]: r["completed"] for r in second.records}
    assert all(completed[enrollment_id] for enrollment_id in changed_ids)


@pytest.mark.parametrize("start_date", ["2025-03-01", "2025-03-01T12:30:00Z"])
def test_start_date_limits_the_first_sync_to_later_updates(
    sandbox: SandboxServer,
    start_date: str,
) -> None:
    output = sync(tap_config(sandbox, start_date=start_date))
    since = parse_timestamp(start_date)
    expected = [
        r
        for r in sandbox.store.all_records()
        if parse_timestamp(r["updated_at"]) >= since
    ]
    assert 0 < len(expected) < SEEDED
    assert output.records == expected


def test_a_bookmark_later_than_start_date_wins(sandbox: SandboxServer) -> None:
    state = {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": "2025-06-01T00:00:00Z",
            },
        },
    }
    output = sync(tap_config(sandbox, start_date="2024-01-01"), state=state)
    assert output.records
    assert all(r["updated_at"] >= "2025-06-01T00:00:00Z" for r in output.records)


@pytest.mark.parametrize("api_clock_offset", [-600.0, 0.0, 600.0])
def test_an_update_made_during_a_sync_to_a_page_already_read_is_in_the_next_sync(
    sandbox: SandboxServer,
    api_clock_offset: float,
) -> None:
    # The tap host's clock is ten minutes off the API's (or not).
    sandbox.clock.offset_seconds = api_clock_offset
    records = sandbox.store.all_records()
    on_page_one = next(r["id"] for r in records[:PAGE_SIZE] if not r["completed"])
    last_page = records[(len(records) - 1) // PAGE_SIZE * PAGE_SIZE :]
    on_last_page = next(r["id"] for r in last_page if not r["completed"])

    def update_both_once_page_two_is_asked_for(page: int, _: int) -> None:
        # Page 1 is read alone; with several workers, pages 2 to 9 are asked for
        # at once, and the last page (10) only once page 2 has been taken.
        if page == 2:
            sandbox.store.update(on_page_one, completed=True)  # read already
            sandbox.clock.offset_seconds += 5
            sandbox.store.update(on_last_page, completed=True)  # not read yet

    sandbox.on_list_request(update_both_once_page_two_is_asked_for)
    during = sync(tap_config(sandbox))
    completed_during = {r["id"]: r["completed"] for r in during.records}
    assert completed_during[on_page_one] is False
    assert completed_during[on_last_page] is True  # newer than the update above

    after = sync(tap_config(sandbox), state=during.final_state)
    assert {r["id"]: r["completed"] for r in after.records}[on_page_one] is True


def test_deletions_during_a_sync_never_skip_a_record(sandbox: SandboxServer) -> None:
    order = sandbox.store.ids_in_api_order()
    deleted = order[2:5]  # on page 1, which is read first

    done: list[bool] = []

    def delete_once_page_two_is_asked_for(page: int, _: int) -> None:
        if page == 2 and not done:
            done.append(True)
            for enrollment_id in deleted:
                sandbox.store.delete(enrollment_id)

    sandbox.on_list_request(delete_once_page_two_is_asked_for)
    output = sync(tap_config(sandbox))
    present_throughout = set(order) - set(deleted)
    assert present_throughout <= set(output.ids)
    assert len(output.ids) == len(set(output.ids))
    # Records 10 to 12 slid onto page 1 after it was read: it was read again.
    assert [int(r.query["page"]) for r in sandbox.requests].count(1) == 2


def test_insertions_during_a_sync_are_not_emitted_twice(sandbox: SandboxServer) -> None:
    order = sandbox.store.ids_in_api_order()

    def insert_before_every_later_page(page: int, request_number: int) -> None:
        if page > 1:
            sandbox.store.create(f"camp_{page}", f"cont_{request_number}")

    sandbox.on_list_request(insert_before_every_later_page)
    output = sync(tap_config(sandbox))
    assert output.ids == order
    assert len(output.ids) == len(set(output.ids))


def test_mixed_inserts_and_deletes_during_a_sync(sandbox: SandboxServer) -> None:
    order = sandbox.store.ids_in_api_order()
    removed: set[int] = set()

    def churn(page: int, request_number: int) -> None:
        if request_number > 1:
            sandbox.store.create(f"camp_{request_number}", "cont_x")
            victim = sandbox.store.ids_in_api_order()[page * PAGE_SIZE // 2]
            if victim in order:
                removed.add(victim)
            sandbox.store.delete(victim)

    sandbox.on_list_request(churn)
    output = sync(tap_config(sandbox))
    assert set(order) - removed <= set(output.ids)
    assert len(output.ids) == len(set(output.ids))


def test_campaign_ids_sync_each_campaign_with_its_own_bookmark(
    sandbox: SandboxServer,
) -> None:
    records = sandbox.store.all_records()
    campaigns = sorted({r["campaign_id"] for r in records})[:2]
    output = sync(tap_config(sandbox, campaign_ids=campaigns))
    assert sorted(output.ids) == sorted(
        r["id"] for r in records if r["campaign_id"] in campaigns
    )
    partitions = output.final_state["bookmarks"]["enrollments"]["partitions"]
    assert [p["context"] for p in partitions] == [{"campaign_id": c} for c in campaigns]
    assert all(
        set(p) == {"context", "replication_key", "replication_key_value"}
        for p in partitions
    )
    asked = {r.query.get("campaign_id") for r in sandbox.requests}
    assert asked == set(campaigns)

    sandbox.store.update(
        next(r["id"] for r in records if r["campaign_id"] == campaigns[1]),
        completed=True,
    )
    again = sync(tap_config(sandbox, campaign_ids=campaigns), state=output.final_state)
    assert [r["campaign_id"] for r in again.records] == [campaigns[1]]


def test_full_table_replication_emits_everything_without_a_bookmark(
    sandbox: SandboxServer,
) -> None:
    tap_catalog = sync_catalog(sandbox)
    for entry in tap_catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    output = sync(tap_config(sandbox, start_date="2025-06-01"), catalog=tap_catalog)
    assert output.records == sandbox.store.all_records()
    assert "replication_key_value" not in output.final_state["bookmarks"].get(
        "enrollments", {}
    )


def sync_catalog(sandbox: SandboxServer) -> dict[str, t.Any]:
    tap = TapReviewRover(config=tap_config(sandbox), parse_env_config=False)
    return tap.catalog_dict


def test_no_sync_dates_are_parsed_from_the_host_clock(sandbox: SandboxServer) -> None:
    # A tap host 45 minutes ahead must not push the bookmark past the API's clock.
    sandbox.clock.offset_seconds = -45 * 60
    output = sync(tap_config(sandbox))
    assert output.bookmark is not None
    assert parse_timestamp(output.bookmark) < dt.datetime.now(
        dt.timezone.utc
    ) - dt.timedelta(minutes=45)


def test_an_unknown_setting_is_warned_about(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    output = sync(tap_config(sandbox, pagesize=50))
    assert len(output.records) == SEEDED
    assert "Unknown setting 'pagesize' is ignored. Did you mean 'page_size'?" in (
        caplog.text
    )


def test_a_campaign_with_no_enrollments_is_warned_about(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    real = sandbox.store.all_records()[0]["campaign_id"]
    output = sync(tap_config(sandbox, campaign_ids=[real, "camp_typo"]))
    assert {r["campaign_id"] for r in output.records} == {real}
    warnings = [r.getMessage() for r in caplog.records if "has no" in r.getMessage()]
    assert warnings == [
        (
            "ReviewRover has no enrollments for campaign_id 'camp_typo': check "
            "that setting."
        )
    ]


def test_stream_maps_go_through_the_sdk_and_keep_every_check(
    sandbox: SandboxServer,
) -> None:
    # With a stream map the SDK writes the records itself, one by one; the walk,
    # its checks and the bookmark are the same.
    maps = {"enrollments": {"contact_id": "__NULL__", "campaign": "campaign_id"}}
    output = sync(tap_config(sandbox, stream_maps=maps))
    expected = [
        {
            **{k: v for k, v in r.items() if k != "contact_id"},
            "campaign": r["campaign_id"],
        }
        for r in sandbox.store.all_records()
    ]
    assert output.records == expected
    assert output.bookmark is not None


def test_a_deselected_field_is_left_out(sandbox: SandboxServer) -> None:
    catalog = sync_catalog(sandbox)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", "contact_id"]:
                item["metadata"]["selected"] = False
    output = sync(tap_config(sandbox), catalog=catalog)
    assert [set(r) for r in output.records] == [
        set(r) - {"contact_id"} for r in sandbox.store.all_records()
    ]
