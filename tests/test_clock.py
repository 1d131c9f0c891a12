"""The API's clock is trusted within bounds, and a bookmark never hides updates."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.timestamps import MAX_CLOCK_SKEW, parse_timestamp
from tests.conftest import sync, tap_config

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("each_mode")

SEVENTY_SIX_YEARS = 76 * 365.25 * 86_400


def state_at(bookmark: str) -> dict[str, t.Any]:
    """A state whose enrollments bookmark is ``bookmark``."""
    return {
        "bookmarks": {
            "enrollments": {
                "replication_key": "updated_at",
                "replication_key_value": bookmark,
            }
        }
    }


def test_a_sync_while_the_api_clock_is_76_years_ahead_loses_no_update(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = sync(tap_config(sandbox))
    assert first.bookmark is not None

    # One sync while the API's Date says 2102: its bookmark must not follow.
    sandbox.faults.add(Fault.date(SEVENTY_SIX_YEARS), times=None)
    jumped = sync(tap_config(sandbox), state=first.final_state)
    assert jumped.bookmark == first.bookmark
    assert "its clock is not used for the bookmark" in caplog.text

    # The clock is right again, and 3 enrollments change: the next runs have them.
    sandbox.faults.clear()
    changed = sandbox.store.ids_in_api_order()[5:8]
    for enrollment_id in changed:
        sandbox.store.update(enrollment_id, completed=True)
    after = sync(tap_config(sandbox), state=jumped.final_state)
    assert sorted(after.ids) == sorted(changed)
    assert after.bookmark is not None
    assert parse_timestamp(after.bookmark) >= parse_timestamp(first.bookmark)
    # Within the bookmark's safety margin they come once more, and nothing else.
    again = sync(tap_config(sandbox), state=after.final_state)
    assert set(again.ids) <= set(changed)


@pytest.mark.parametrize("offset_minutes", [-61, 61])
def test_a_date_more_than_the_bound_off_the_host_keeps_the_bookmark(
    sandbox: SandboxServer,
    offset_minutes: int,
) -> None:
    assert dt.timedelta(minutes=abs(offset_minutes)) > MAX_CLOCK_SKEW
    first = sync(tap_config(sandbox))
    sandbox.faults.add(Fault.date(offset_minutes * 60), times=None)
    assert sync(tap_config(sandbox), state=first.final_state).bookmark == (
        first.bookmark
    )


@pytest.mark.parametrize("offset_minutes", [-50, 50])
def test_a_date_within_the_bound_gives_the_bookmark(
    sandbox: SandboxServer,
    offset_minutes: int,
) -> None:
    sandbox.faults.add(Fault.date(offset_minutes * 60), times=None)
    output = sync(tap_config(sandbox))
    assert output.bookmark is not None
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=offset_minutes)
    assert abs(parse_timestamp(output.bookmark) - expected) < dt.timedelta(minutes=5)


def test_a_bookmark_in_the_future_is_reported_and_everything_read_again(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = sync(tap_config(sandbox), state=state_at("2999-01-01T00:00:00Z"))
    assert output.records == sandbox.store.all_records()
    assert "is later than ReviewRover's clock now" in caplog.text
    assert "Reading from the beginning instead" in caplog.text
    # The new bookmark comes from this sync, which read every update.
    assert output.bookmark is not None
    assert output.bookmark < "2999"


def test_a_bookmark_in_the_future_reads_from_start_date(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start_date = "2025-03-01T00:00:00Z"
    output = sync(
        tap_config(sandbox, start_date=start_date),
        state=state_at("2999-01-01T00:00:00Z"),
    )
    expected = [r for r in sandbox.store.all_records() if r["updated_at"] >= start_date]
    assert 0 < len(expected) < len(sandbox.store)
    assert output.records == expected
    assert f"Reading from start_date ({start_date}) instead" in caplog.text


def test_a_clock_set_back_after_a_sync_does_not_hide_the_updates_since(
    sandbox: SandboxServer,
) -> None:
    first = sync(tap_config(sandbox))
    # The API's clock goes back ten minutes (within the bound): updates made now
    # are stamped before the bookmark, yet must come in the next sync.
    sandbox.clock.offset_seconds = -600
    changed = sandbox.store.ids_in_api_order()[:2]
    for enrollment_id in changed:
        sandbox.store.update(enrollment_id, completed=True)
    after = sync(tap_config(sandbox), state=first.final_state)
    assert set(changed) <= set(after.ids)
