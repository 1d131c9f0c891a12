"""An API whose pagination lies never costs a row: exact data, or a clear stop.

Each test makes the sandbox tell one lie, over real HTTP, in both walk modes.
A lie told once is a passing inconsistency: the page is read again and the sync
ends with exactly the API's data. A lie told every time ends the sync with an
error that names it, no bookmark moved and no ACTIVATE_VERSION sent.
"""

from __future__ import annotations

import math
import re
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.errors import BadResponseError
from tap_reviewrover.paging import MAX_READS_OF_A_BAD_PAGE
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import (
    PAGE_SIZE,
    SEEDED,
    SyncOutput,
    failed_sync,
    sync,
    tap_config,
)

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")

#: A bookmark the syncs start from: they may only ever keep it.
STATE = {
    "bookmarks": {
        "enrollments": {
            "replication_key": "updated_at",
            "replication_key_value": "2024-06-01T00:00:00Z",
        }
    }
}
PAGES = math.ceil(SEEDED / PAGE_SIZE)


def full_table(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """A catalog selecting the stream with FULL_TABLE replication."""
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    return catalog


def emitted_exactly_the_api(sandbox: SandboxServer, output: SyncOutput) -> None:
    """Every record, once, exactly as the API has it."""
    assert output.records == sandbox.store.all_records()


def stops_with(
    sandbox: SandboxServer, problem: str, *, full: bool = False
) -> BadResponseError:
    """Sync (incremental from STATE, or FULL_TABLE); it must fail naming ``problem``.

    The sync's messages are checked as the target would see them: no STATE
    claims more than the starting bookmark, and no ACTIVATE_VERSION is sent.
    """
    config = tap_config(sandbox)
    catalog = full_table(config) if full else None
    output, error = failed_sync(config, state=STATE, catalog=catalog)
    assert isinstance(error, BadResponseError), error
    assert re.search(problem, str(error)), str(error)
    start = STATE["bookmarks"]["enrollments"]
    for state in output.states:
        assert state["bookmarks"]["enrollments"] == start
    assert [m for m in output.messages if m["type"] == "ACTIVATE_VERSION"] == []
    return error


def test_a_page_short_once_is_read_again_and_nothing_is_lost(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.short(4), page=3)
    output = sync(tap_config(sandbox))
    emitted_exactly_the_api(sandbox, output)
    assert [r.query["page"] for r in sandbox.requests].count("3") == 2


def test_a_page_empty_once_is_read_again_and_nothing_is_lost(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.empty(), page=2)
    output = sync(tap_config(sandbox))
    emitted_exactly_the_api(sandbox, output)
    assert output.bookmark is not None


@pytest.mark.parametrize(
    "fault", [Fault.empty(), Fault.short(5)], ids=["empty", "half"]
)
def test_a_page_that_stays_short_stops_the_sync_with_the_bookmark_unmoved(
    sandbox: SandboxServer, fault: Fault
) -> None:
    sandbox.faults.add(fault, page=2, times=None)
    error = stops_with(sandbox, "page 2 holds [05] records")
    assert f"(read {MAX_READS_OF_A_BAD_PAGE} times)" in str(error)
    assert "the bookmark has not moved" in str(error)


def test_every_page_empty_with_a_total_stops_instead_of_syncing_nothing(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.empty(), times=None)
    stops_with(sandbox, f"page 1 holds 0 records, .* says it holds {PAGE_SIZE}")
    assert sandbox.list_request_count == MAX_READS_OF_A_BAD_PAGE


@pytest.mark.parametrize(
    "fault", [Fault.empty(), Fault.short(5)], ids=["empty", "half"]
)
def test_a_full_table_copy_with_a_short_page_activates_no_version(
    sandbox: SandboxServer, fault: Fault
) -> None:
    # A target acting on ACTIVATE_VERSION would delete the rows not re-sent.
    sandbox.faults.add(fault, page=4, times=None)
    stops_with(sandbox, "page 4 holds", full=True)


def test_a_declared_page_size_cap_is_walked_with_what_the_api_serves(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.limit_cap = 4
    sandbox.faults.limit_cap_mode = "declared"
    output = sync(tap_config(sandbox))
    emitted_exactly_the_api(sandbox, output)
    assert {r.query["limit"] for r in sandbox.requests[1:]} == {"4"}
    assert len(sandbox.requests) == math.ceil(SEEDED / 4)
    assert "serves at most 4 enrollments a page (it says so)" in caplog.text


@pytest.mark.parametrize("mode", ["silent", "silent_gaps"])
def test_a_silent_page_size_cap_is_found_and_walked_with_what_the_api_serves(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    mode: t.Literal["silent", "silent_gaps"],
) -> None:
    sandbox.faults.limit_cap = 4
    sandbox.faults.limit_cap_mode = mode
    output = sync(tap_config(sandbox))
    emitted_exactly_the_api(sandbox, output)
    # Page 1 twice at 10 (short both times), then every page at 4.
    assert [r.query["limit"] for r in sandbox.requests[:2]] == ["10", "10"]
    assert {r.query["limit"] for r in sandbox.requests[2:]} == {"4"}
    assert "serves at most 4 enrollments a page (without saying so)" in caplog.text


@pytest.mark.parametrize("total_pages", [0, 1, PAGES + 1, 10**9])
def test_total_pages_that_disagree_with_the_total_stop_the_sync(
    sandbox: SandboxServer, total_pages: int
) -> None:
    sandbox.faults.add(Fault.pagination(total_pages=total_pages), times=None)
    stops_with(sandbox, f"says there are {total_pages} pages")
    # The request budget follows the total: no walk of a billion pages.
    assert sandbox.list_request_count == MAX_READS_OF_A_BAD_PAGE


def test_total_pages_wrong_once_is_read_again(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.pagination(total_pages=10**9), page=2)
    emitted_exactly_the_api(sandbox, sync(tap_config(sandbox)))


def test_a_total_that_lies_stops_the_sync(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.pagination(total=500, total_pages=50), times=None)
    stops_with(sandbox, "says it holds 10")


def test_a_page_size_that_is_not_the_one_asked_for_stops_the_sync(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.pagination(limit=PAGE_SIZE + 5), page=3, times=None)
    stops_with(sandbox, "page 3 says it holds pages of 15 while 10 were asked for")


def test_pages_served_swapped_stop_the_sync_rather_than_drop_records(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault.serve_page(2), page=1, times=None)
    sandbox.faults.add(Fault.serve_page(1), page=2, times=None)
    stops_with(sandbox, "pages are served out of order")


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full-table"])
def test_a_page_served_in_place_of_another_once_is_healed_by_reading_again(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    full: bool,  # noqa: FBT001
) -> None:
    # Page 2 answers with page 3's records once: nothing shows it until page 3
    # repeats them. The walk starts again from page 1, and sends the records it
    # took before again (a target upserting on id keeps one copy of each).
    sandbox.faults.add(Fault.serve_page(3), page=2)
    config = tap_config(sandbox)
    output = sync(config, catalog=full_table(config) if full else None)
    loaded = {record["id"]: record for record in output.records}
    assert loaded == {record["id"]: record for record in sandbox.store.all_records()}
    assert "reading the list again from page 1" in caplog.text
    types = [message["type"] for message in output.messages]
    assert types.count("ACTIVATE_VERSION") == (1 if full else 0)
    if full:
        last_record = max(i for i, kind in enumerate(types) if kind == "RECORD")
        assert types.index("ACTIVATE_VERSION") > last_record


def test_a_page_served_for_another_stops_the_sync(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.serve_page(5), page=3, times=None)
    stops_with(sandbox, "page 3|page 4")


def test_a_repeated_page_stops_the_sync(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.serve_page(1), page=2, times=None)
    stops_with(sandbox, "repeats records already read")


def test_records_out_of_order_on_a_page_stop_the_sync(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.records(lambda records: records[::-1]), page=2, times=None)
    stops_with(sandbox, "newest-created first")
