"""Clocks, one rule: the bookmark follows the earlier clock, and hides no update."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from reviewrover_sandbox import Fault

from tap_reviewrover.bookmarks import CLOCK_MARGIN
from tap_reviewrover.timestamps import parse_timestamp
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

    # One sync while the API's Date says 2102: the bookmark follows this host's
    # clock, the earlier one, and says why.
    sandbox.faults.add(Fault.date(SEVENTY_SIX_YEARS), times=None)
    jumped = sync(tap_config(sandbox), state=first.final_state)
    assert jumped.bookmark is not None
    assert jumped.bookmark < "2100"
    assert "more than 60 s apart: the bookmark follows the earlier one" in caplog.text

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


@pytest.mark.parametrize("offset_minutes", [-61, -50, 50, 61])
def test_the_bookmark_follows_the_earlier_of_the_api_clock_and_the_host_clock(
    sandbox: SandboxServer,
    offset_minutes: int,
) -> None:
    sandbox.faults.add(Fault.date(offset_minutes * 60), times=None)
    before = dt.datetime.now(dt.timezone.utc)
    output = sync(tap_config(sandbox))
    after = dt.datetime.now(dt.timezone.utc)
    assert output.bookmark is not None
    skew = dt.timedelta(minutes=min(0, offset_minutes))
    bookmark = parse_timestamp(output.bookmark)
    slack = dt.timedelta(seconds=1)  # the Date header's whole seconds
    assert before + skew - CLOCK_MARGIN - slack <= bookmark
    assert bookmark <= after + skew - CLOCK_MARGIN


def test_an_api_date_ahead_of_the_clock_that_stamps_updates_loses_no_update(
    sandbox: SandboxServer,
) -> None:
    # The API's web servers say 90 s later than its database, which stamps
    # updated_at (and agrees with this host).
    sandbox.faults.add(Fault.date(90), times=None)
    first = sync(tap_config(sandbox))
    changed = sandbox.store.ids_in_api_order()[3:6]
    for enrollment_id in changed:
        sandbox.store.update(enrollment_id, completed=True)
    after = sync(tap_config(sandbox), state=first.final_state)
    assert set(changed) <= set(after.ids)


def test_an_api_clock_fast_for_one_run_then_corrected_loses_no_update(
    sandbox: SandboxServer,
) -> None:
    sandbox.clock.offset_seconds = 120  # its Date and its data, 2 minutes fast
    first = sync(tap_config(sandbox))
    sandbox.clock.offset_seconds = 0  # corrected
    changed = sandbox.store.ids_in_api_order()[:10]
    for enrollment_id in changed:
        sandbox.store.update(enrollment_id, completed=True)
    after = sync(tap_config(sandbox), state=first.final_state)
    assert set(changed) <= set(after.ids)


@pytest.mark.parametrize(
    ("lookback_seconds", "kept"), [(300, True), (0, False)], ids=["default", "none"]
)
def test_an_update_visible_late_is_read_within_the_lookback(
    sandbox: SandboxServer,
    lookback_seconds: int,
    kept: bool,  # noqa: FBT001
) -> None:
    config = tap_config(sandbox, lookback_seconds=lookback_seconds)
    first = sync(config)
    # Stamped three minutes ago, visible only now (replica lag, a long
    # transaction): before the bookmark, but within the default lookback.
    late = sandbox.store.ids_in_api_order()[7]
    stamped = sandbox.clock.now() - dt.timedelta(minutes=3)
    sandbox.store.update(late, completed=True, updated_at=stamped)
    after = sync(config, state=first.final_state)
    assert (late in after.ids) is kept


def test_a_bookmark_in_the_future_is_reported_and_everything_read_again(
    sandbox: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = sync(tap_config(sandbox), state=state_at("2999-01-01T00:00:00Z"))
    assert output.records == sandbox.store.all_records()
    assert "is later than ReviewRover's clock or this host's" in caplog.text
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
