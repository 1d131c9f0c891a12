"""Progress lines: one every 15 s of a long sync, none for a short one."""

from __future__ import annotations

import logging
import types
import typing as t

from tap_reviewrover.progress import PROGRESS_INTERVAL_SECONDS, Progress

if t.TYPE_CHECKING:
    import pytest

    from tap_reviewrover.paging import PageWalk


class SteppedClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        """Start at 0."""
        self.now = 0.0

    def __call__(self) -> float:
        """The time now."""
        return self.now


def read_pages(
    pages: int, seconds_per_page: float, caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Walk ``pages`` pages of 100 records (total 100 a page) through Progress."""
    caplog.set_level(logging.INFO)
    clock = SteppedClock()
    progress = Progress(
        logging.getLogger("tap-reviewrover.enrollments"),
        "enrollments",
        {"campaign_id": "camp_1"},
        clock=clock,
    )
    for number in range(1, pages + 1):
        clock.now += seconds_per_page
        walk = types.SimpleNamespace(
            requests=number, limit=100, next_page=number + 1 if number < pages else None
        )
        progress.page_done(t.cast("PageWalk[t.Any]", walk), pages * 100, 100)
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("Reading")
    ]


def test_a_short_sync_logs_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    assert read_pages(20, 0.5, caplog) == []  # 10 s in all


def test_a_long_sync_logs_a_line_every_15_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = read_pages(100, 0.5, caplog)  # 50 s in all
    assert len(lines) == int(100 * 0.5 // PROGRESS_INTERVAL_SECONDS)
    assert lines[0] == (
        "Reading enrollments {'campaign_id': 'camp_1'}: 30 of 100 pages read, "
        "3000 records emitted, 2.0 pages/s, about 35 s left."
    )
