"""Progress lines for an operator watching a long sync.

A full scan reads every page, so a large account's sync takes minutes: every
:data:`PROGRESS_INTERVAL_SECONDS` the tap says how far it has got (pages read of
the total, records emitted, pages a second and the time left). A short sync says
nothing until its summary line.
"""

from __future__ import annotations

import time
import typing as t

from tap_reviewrover.paging import pages_for

if t.TYPE_CHECKING:
    import logging

    from singer_sdk.helpers.types import Context

    from tap_reviewrover.paging import PageWalk

#: Seconds between two progress lines.
PROGRESS_INTERVAL_SECONDS = 15.0


class Progress:
    """Logs a progress line now and then while one walk reads its pages."""

    def __init__(
        self,
        logger: logging.Logger,
        stream_name: str,
        context: Context | None,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        """Start counting now.

        Args:
            logger: Where the lines go.
            stream_name: The stream, for the lines.
            context: The partition, for the lines.
            clock: A monotonic clock.
            interval: Seconds between two lines.
        """
        self._logger = logger
        self._what = stream_name + (f" {dict(context)}" if context else "")
        self._clock = clock
        self._interval = interval
        self._started = clock()
        self._next_line = self._started + interval
        self._records = 0

    def page_done(self, walk: PageWalk[t.Any], total: int, records: int) -> None:
        """Count a page taken by the walk; log a line when one is due.

        Args:
            walk: The walk, after it took the page.
            total: The list's size as the page reported it.
            records: Records emitted from the page.
        """
        self._records += records
        now = self._clock()
        if now < self._next_line:
            return
        self._next_line = now + self._interval
        pages = max(1, pages_for(total, walk.limit))
        read = walk.requests
        elapsed = now - self._started
        rate = read / elapsed if elapsed > 0 else 0.0
        left = max(0, pages - (walk.next_page or pages + 1) + 1)
        eta = f"about {left / rate:.0f} s left" if rate > 0 else "time left unknown"
        self._logger.info(
            "Reading %s: %d of %d pages read, %d records emitted, %.1f pages/s, %s.",
            self._what,
            read,
            pages,
            self._records,
            rate,
            eta,
        )
