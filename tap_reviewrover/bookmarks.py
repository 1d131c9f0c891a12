"""The bookmark rules: where an incremental sync starts, and where it leaves off.

Pure functions and values; the stream feeds them the state, the settings and the
first answer's clocks, and the tests pin them down.

The API lists enrollments by creation, not by update, so a record updated while a
sync runs may sit on a page already read: the only safe bookmark is the moment the
sync *started*. Three clocks are in play: this host's, the API's ``Date``, and the
one that stamps ``updated_at`` (the API's database). One rule covers them:

* the sync's start is the **earlier** of the ``Date`` and the host's clock, so a
  fast ``Date`` (a proxy, a clock corrected later) never pushes the bookmark past
  updates stamped on a slower clock, and a fast host never does either;
* the bookmark is that start less :data:`CLOCK_MARGIN`, which covers the
  ``Date``'s rounding down to the second and a database clock up to a minute
  behind the API's web servers;
* the next sync re-reads ``lookback`` more (the ``lookback_seconds`` setting),
  for updates that become visible late (replica lag, a long transaction);
* with no ``Date`` at all the database's clock cannot be placed: the bookmark
  stays where it was;
* a bookmark later than the earlier clock now cannot come from a sync that
  read the list under this rule (a state edited by hand, or a clock set back
  since: updates are now stamped before the bookmark): the sync reads from
  ``start_date`` instead (everything, without one).

Records are emitted when ``updated_at`` is at or after the start of the window
(rounded down to the second: the API's timestamps have no fraction) and, for a
backfill with ``end_date``, before its end.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from tap_reviewrover.timestamps import format_timestamp, parse_timestamp

#: How far before the sync's start (the earlier clock) the next bookmark is set.
CLOCK_MARGIN = dt.timedelta(seconds=60)
#: Before the API's clock is known, records created this long before this host's
#: clock may already be ones created during the sync (the walk's check).
MAX_CLOCK_SKEW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    """Which records an incremental sync emits.

    Attributes:
        start: The first ``updated_at`` to emit; None: from the beginning.
        end: The first ``updated_at`` not to emit (``end_date``); None: no end.
    """

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def wanted(
        self, records: list[t.Any], updated: t.Callable[[t.Any], t.Any]
    ) -> list[t.Any]:
        """The records updated within the window.

        Args:
            records: Records, in any order.
            updated: Reads a record's ``updated_at``.

        Returns:
            Those to emit, in the same order.
        """
        start, end = self.start, self.end
        if start is None and end is None:
            return records
        return [
            record
            for record in records
            if (start is None or updated(record) >= start)
            and (end is None or updated(record) < end)
        ]


def sync_start(
    api_clock: dt.datetime | None, host_clock: dt.datetime
) -> tuple[dt.datetime | None, str | None]:
    """The moment the sync started, as the bookmark may take it.

    Args:
        api_clock: The first answer's ``Date``, if it had one.
        host_clock: This host's clock when that answer arrived.

    Returns:
        The earlier of the two clocks (None without a ``Date``), and a warning
        when they disagree by more than :data:`CLOCK_MARGIN` or there is no
        ``Date`` (None when all is well).
    """
    if api_clock is None:
        return None, (
            "ReviewRover sent no Date header: its clock is unknown, so the bookmark "
            "stays where it was and the next sync reads the same updates again."
        )
    start = min(api_clock, host_clock)
    if abs(api_clock - host_clock) <= CLOCK_MARGIN:
        return start, None
    return start, (
        f"ReviewRover's clock says {format_timestamp(api_clock)} while this host "
        f"says {format_timestamp(host_clock)}, more than {CLOCK_MARGIN.seconds} s "
        "apart: the bookmark follows the earlier one, so that no update is missed. "
        "Check the clocks (NTP)."
    )


def created_since(
    api_clock: dt.datetime | None, host_clock: dt.datetime
) -> dt.datetime:
    """From when a record counts as created during the sync (the walk's check).

    Args:
        api_clock: The first answer's ``Date``, if it had one.
        host_clock: This host's clock when that answer arrived.

    Returns:
        The sync's start less the margin; without a ``Date``, the host's clock
        less :data:`MAX_CLOCK_SKEW`.
    """
    start, _ = sync_start(api_clock, host_clock)
    if start is None:
        return host_clock - MAX_CLOCK_SKEW
    return start - CLOCK_MARGIN


def next_bookmark(start: dt.datetime | None) -> dt.datetime | None:
    """Where the next sync may start, once a sync has read every page.

    Deliberately not the newest ``updated_at`` seen: that can lie after an update
    made during the sync to a page already read.

    Args:
        start: The sync's start (:func:`sync_start`), or None.

    Returns:
        The new bookmark, or None to keep the previous one.
    """
    return None if start is None else start - CLOCK_MARGIN


def emit_window(
    *,
    bookmark: dt.datetime | None,
    start_date: dt.datetime | None,
    end_date: dt.datetime | None,
    lookback: dt.timedelta,
    clocks: tuple[dt.datetime | None, dt.datetime],
) -> tuple[Window, bool]:
    """Which records an incremental sync emits (see the module doc).

    Args:
        bookmark: The state's bookmark, if any.
        start_date: The ``start_date`` setting, if any.
        end_date: The ``end_date`` setting, if any.
        lookback: How much before the bookmark to read again.
        clocks: The first answer's ``Date`` (if any) and this host's clock.

    Returns:
        The window, and whether the bookmark was set aside for lying later than
        the earlier clock.
    """
    api_clock, host_clock = clocks
    earliest = min(api_clock or host_clock, host_clock)
    set_aside = bookmark is not None and bookmark > earliest
    from_bookmark = None if bookmark is None or set_aside else bookmark - lookback
    moments = [moment for moment in (from_bookmark, start_date) if moment is not None]
    start = max(moments).replace(microsecond=0) if moments else None
    return Window(start, end_date), set_aside


@dataclass
class PartitionBookmark:
    """One partition's bookmark during a sync: the rules above, applied.

    It reads and writes the partition's state (the SDK's writable dict) and
    nothing else.

    Attributes:
        window: What to emit; settled by :meth:`begin`.
        start: The sync's start (:func:`sync_start`); settled by :meth:`begin`.
    """

    state: dict[str, t.Any]
    key: str
    incremental: bool
    settings: t.Mapping[str, t.Any]
    window: Window = field(default_factory=Window)
    start: dt.datetime | None = None

    def begin(
        self, api_clock: dt.datetime | None, host_clock: dt.datetime
    ) -> list[str]:
        """Settle the window and the start from the walk's first answer.

        Args:
            api_clock: Its ``Date``, if it had one.
            host_clock: This host's clock when it arrived.

        Returns:
            Warnings for the log.
        """
        self.start, warning = sync_start(api_clock, host_clock)
        warnings = [warning] if warning else []
        if not self.incremental:
            return warnings
        text = self.state.get("replication_key_value")
        start_date = self.settings.get("start_date")
        self.window, set_aside = emit_window(
            bookmark=parse_timestamp(text) if text else None,
            start_date=_moment(start_date),
            end_date=_moment(self.settings.get("end_date")),
            lookback=dt.timedelta(seconds=int(self.settings["lookback_seconds"])),
            clocks=(api_clock, host_clock),
        )
        if set_aside:
            instead = f"start_date ({start_date})" if start_date else "the beginning"
            warnings.append(
                f"The bookmark, {text}, is later than ReviewRover's clock or this "
                "host's: a clock went back, or the state was edited, and it would "
                f"hide updates made since. Reading from {instead} instead."
            )
        return warnings

    def finish(self) -> bool:
        """Every page was read: move the bookmark to where the next sync starts.

        Returns:
            Whether the state changed.
        """
        bookmark = next_bookmark(self.start) if self.incremental else None
        if bookmark is None:
            return False
        if self.window.end is not None:
            # A backfill window: nothing updated from end_date on was read.
            bookmark = min(bookmark, self.window.end)
        self.state["replication_key"] = self.key
        self.state["replication_key_value"] = format_timestamp(bookmark)
        return True


def _moment(text: object) -> dt.datetime | None:
    return parse_timestamp(text) if isinstance(text, str) and text else None
