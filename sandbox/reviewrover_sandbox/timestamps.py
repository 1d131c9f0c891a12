"""Time as the API tells it: its clock and its timestamp format.

`Clock` is the API server's clock: real UTC time (or a test's source of time)
shifted by a settable offset. The API renders timestamps in UTC, to the
second, with a `Z` suffix.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_EPOCH = date(1970, 1, 1)


class Clock:
    """The API server's clock: real UTC time shifted by a settable offset.

    Tests set `offset_seconds` (at any time) to simulate an API clock that is
    ahead of (positive) or behind (negative) the tap's host. A test that must
    not depend on the wall clock gives a `source` of its own: with a source
    that stands still, time moves only when the test changes the offset::

        clock = Clock(source=lambda: START)  # stands at START
        clock.offset_seconds += 61  # now 61 s later
    """

    def __init__(
        self,
        offset_seconds: float = 0.0,
        *,
        source: Callable[[], datetime] | None = None,
    ) -> None:
        """Create a clock.

        Args:
            offset_seconds: Seconds added to the source's time.
            source: Returns the base time, an aware datetime; the real UTC
                time by default.
        """
        self.offset_seconds = offset_seconds
        self.source = source

    def now(self) -> datetime:
        """Return the current API time.

        Returns:
            An aware UTC datetime.
        """
        base = datetime.now(timezone.utc) if self.source is None else self.source()
        return base + timedelta(seconds=self.offset_seconds)


def format_timestamp(moment: datetime) -> str:
    """Render a datetime the way the API does: UTC, whole seconds, `Z` suffix.

    Args:
        moment: An aware datetime.

    Returns:
        A string like `2025-02-17T02:00:34Z`.
    """
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def timestamp_text(value: datetime | str) -> str:
    """Return an API timestamp: datetimes are formatted, strings kept as given.

    Args:
        value: An aware datetime or an API-formatted string.
    """
    return format_timestamp(value) if isinstance(value, datetime) else value


class TimestampFormatter:
    """Formats epoch seconds quickly, caching the text of each day and second."""

    def __init__(self) -> None:
        """Create a formatter with empty caches."""
        self._days: dict[int, str] = {}
        self._times: dict[int, str] = {}

    def __call__(self, epoch_seconds: int) -> str:
        """Return the API timestamp of `epoch_seconds`.

        Args:
            epoch_seconds: Seconds since 1970-01-01 UTC.
        """
        day, second = divmod(epoch_seconds, 86_400)
        date_text = self._days.get(day)
        if date_text is None:
            date_text = self._days[day] = (_EPOCH + timedelta(days=day)).isoformat()
        time_text = self._times.get(second)
        if time_text is None:
            hours, minutes = divmod(second // 60, 60)
            time_text = f"T{hours:02d}:{minutes:02d}:{second % 60:02d}Z"
            self._times[second] = time_text
        return date_text + time_text
