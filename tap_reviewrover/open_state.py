"""The narrow walk's rules, pure: what it keeps, which walk to take, what to emit.

``incremental_strategy: open_enrollments`` (:mod:`tap_reviewrover.walkers.
open_enrollments`) rests on one assumption the API's documentation does not
state: **a completed enrollment does not change again, except by deletion**.
Then what changed since the last sync is among the enrollments created since
(the newest pages), those open now (``completed=false``), and those open at the
last sync (read one by one). This module holds what that needs, with no I/O:

* :class:`OpenState`: what the partition's state keeps between syncs, under
  :data:`STATE_KEY`, and its strict reading (a bad one is one clear line);
* :func:`choose_walk`: a narrow walk, or every page, and why;
* :func:`kept_because` and :func:`missed_edit`: what is emitted beyond the
  bookmark's window, and what a walk of every page counts as the evidence
  against the assumption.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from array import array
from dataclasses import dataclass, field

from tap_reviewrover.id_sets import decode_ids, encode_ids
from tap_reviewrover.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    parse_timestamp,
)

#: The key of the strategy's data in the partition's state.
STATE_KEY = "open_enrollments"
#: The shape of that data; another is refused.
FORMAT = 1
#: Why a record outside the bookmark's window is emitted all the same.
Kept = t.Literal["opened", "closed", "missed"]


@dataclass(frozen=True)
class OpenState:
    """What a sync in this mode leaves for the next one (see the module doc).

    Attributes:
        bookmark: The partition's bookmark when this was written: data kept with
            another bookmark (a sync of another strategy moved it) is stale.
        open_count: Enrollments open at the end of the last sync.
        open_ids: Their ids, sorted; None when there were more than
            ``max_open_ids`` (not kept).
        full_walk_bookmark: The start of the last whole walk of every page, as
            a bookmark (less the clock margin); None before the first.
        completed_emitted: Fingerprints (``id_sets.fingerprint``) of the
            completed enrollments emitted since that walk, sorted; None when
            there were too many to keep.
        list_total: The list's size at the last sync.
        newest_pages: Pages of new enrollments a narrow walk read (or would
            have) at the last sync.
        single_reads: Enrollments it read one by one (or would have).
    """

    bookmark: str | None = None
    open_count: int = 0
    open_ids: array[int] | None = field(default_factory=lambda: array("q"))
    full_walk_bookmark: dt.datetime | None = None
    completed_emitted: array[int] | None = field(default_factory=lambda: array("q"))
    list_total: int = 0
    newest_pages: int = 0
    single_reads: int = 0

    def to_state(self) -> dict[str, t.Any]:
        """The JSON object kept in the state.

        Returns:
            The object; the sets compact (``id_sets.encode_ids``).
        """
        full = self.full_walk_bookmark
        data: dict[str, t.Any] = {
            "format": FORMAT,
            "bookmark": self.bookmark,
            "open_count": self.open_count,
            "full_walk_bookmark": format_timestamp(full) if full else None,
            "list_total": self.list_total,
            "newest_pages": self.newest_pages,
            "single_reads": self.single_reads,
        }
        if self.open_ids is not None:
            data["open_ids"] = encode_ids(self.open_ids)
        if self.completed_emitted is not None:
            data["completed_emitted"] = encode_ids(self.completed_emitted)
        return data

    @classmethod
    def parse(cls, data: object, *, most: int) -> OpenState:
        """Read what :meth:`to_state` wrote, checking every field.

        Args:
            data: The value under :data:`STATE_KEY`.
            most: The most ids a set may hold (``max_open_ids``).

        Returns:
            The state.

        Raises:
            ValueError: Naming the first problem found.
        """
        if not isinstance(data, dict):
            msg = f"it is a {type(data).__name__}, not an object"
            raise ValueError(msg)  # noqa: TRY004 - one error type for the caller
        if data.get("format") != FORMAT:
            msg = f"its format is {data.get('format')!r}, not {FORMAT}"
            raise ValueError(msg)
        counts = {
            name: _count(data, name)
            for name in ("open_count", "list_total", "newest_pages", "single_reads")
        }
        full = data.get("full_walk_bookmark")
        bookmark = data.get("bookmark")
        if bookmark is not None and not isinstance(bookmark, str):
            msg = f"its bookmark is {bookmark!r}, not a timestamp"
            raise ValueError(msg)
        return cls(
            bookmark=bookmark,
            open_ids=_ids(data, "open_ids", most),
            full_walk_bookmark=_moment(full, "full_walk_bookmark"),
            completed_emitted=_ids(data, "completed_emitted", most),
            **counts,
        )


def _count(data: dict[str, t.Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        msg = f"its {name} is {value!r}, not a count"
        raise ValueError(msg)
    return value


def _ids(data: dict[str, t.Any], name: str, most: int) -> array[int] | None:
    text = data.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        msg = f"its {name} is a {type(text).__name__}, not text"
        raise ValueError(msg)  # noqa: TRY004 - one error type for the caller
    try:
        return decode_ids(text, most=most)
    except ValueError as exc:
        msg = f"its {name} cannot be read: {exc}"
        raise ValueError(msg) from None


def _moment(text: object, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        if isinstance(text, str):
            return parse_timestamp(text)
    except InvalidTimestampError:
        pass
    msg = f"its {name} is {text!r}, not a timestamp"
    raise ValueError(msg)


@dataclass(frozen=True)
class Choice:
    """Which walk a sync takes.

    Attributes:
        full: Every page (else the narrow walk).
        reason: Why every page, for the log; None for the narrow walk.
        warn: Whether the reason is worth a warning (a limit the setting sets).
        forget: The state kept goes with another bookmark: use none of it.
    """

    full: bool
    reason: str | None = None
    warn: bool = False
    forget: bool = False


def pages(records: int, page_size: int) -> int:
    """Requests to read ``records`` at ``page_size`` a page (at least one).

    Args:
        records: Records.
        page_size: Records a page.

    Returns:
        The requests.
    """
    return max(1, -(-records // page_size))


def too_costly(narrow: int, full: int) -> bool:
    """Whether a narrow walk costs too much next to a walk of every page.

    A walk of every page also finds what the narrow walk cannot (edits of
    completed enrollments), so it is taken once the narrow walk would cost more
    than half as many requests.

    Args:
        narrow: Requests the narrow walk would take.
        full: Requests a walk of every page would take.

    Returns:
        True to walk every page instead.
    """
    return narrow > full / 2


def choose_walk(  # noqa: PLR0911, PLR0913 - a return per reason, an input per setting
    previous: OpenState | None,
    *,
    bookmark: str | None,
    now: dt.datetime,
    every_hours: int,
    max_open_ids: int,
    page_size: int,
) -> Choice:
    """Decide, before the first request, between the narrow walk and every page.

    Args:
        previous: What the last sync in this mode kept; None if nothing.
        bookmark: The partition's bookmark now.
        now: This host's clock.
        every_hours: ``full_scan_every_hours``.
        max_open_ids: ``max_open_ids``.
        page_size: ``page_size``.

    Returns:
        The choice, and why.
    """
    if previous is None:
        return Choice(full=True, reason="the state holds no open set yet")
    if bookmark is None:
        return Choice(full=True, reason="the state holds no bookmark")
    if previous.bookmark != bookmark:
        return Choice(
            full=True,
            reason=f"the open set in the state goes with the bookmark "
            f"{previous.bookmark}, not {bookmark} (a sync of another strategy ran)",
            forget=True,
        )
    if previous.open_ids is None:
        return Choice(
            full=True,
            reason=f"{previous.open_count} were open at the last sync, more than "
            f"max_open_ids ({max_open_ids})",
            warn=True,
        )
    last_full = previous.full_walk_bookmark
    if every_hours == 0:
        return Choice(full=True, reason="full_scan_every_hours is 0")
    if last_full is None or now - last_full >= dt.timedelta(hours=every_hours):
        since = "never" if last_full is None else f"{format_timestamp(last_full)}"
        return Choice(
            full=True,
            reason=f"the last walk of every page started {since}, more than "
            f"full_scan_every_hours ({every_hours}) ago",
        )
    narrow = (
        max(previous.newest_pages, 1)
        + pages(previous.open_count, page_size)
        + previous.single_reads
    )
    full = pages(previous.list_total, page_size)
    if too_costly(narrow, full):
        return Choice(
            full=True,
            reason=f"a narrow walk would take about {narrow} requests, more than "
            f"half of the {full} of a walk of every page",
        )
    return Choice(full=False)


def kept_because(
    *, open_now: bool, open_before: bool | None, missed: bool = False
) -> Kept | None:
    """Why a record is emitted even if not updated within the bookmark's window.

    Its completion changed since the last sync (an update, even one whose
    ``updated_at`` became visible late, or never moved), or it is an edit of a
    completed enrollment a narrow walk misses.

    Args:
        open_now: Whether it is open now (``completed`` false).
        open_before: Whether it was open at the last sync; None when unknown.
        missed: Whether :func:`missed_edit` says so.

    Returns:
        The reason, or None: the window alone decides.
    """
    if open_before is not None and open_now and not open_before:
        return "opened"
    if open_before is not None and open_before and not open_now:
        return "closed"
    return "missed" if missed else None


def missed_edit(  # noqa: PLR0913 - one argument per fact about the record
    *,
    open_now: bool,
    open_before: bool,
    created: dt.datetime,
    updated: dt.datetime,
    newest_since: dt.datetime,
    repair_since: dt.datetime,
    emitted: bool,
) -> bool:
    """Whether a walk of every page found an edit the narrow walks could not see.

    A completed enrollment that was not open at the last sync, created before
    the newest pages a narrow walk reads, and updated since the last walk of
    every page in a version no narrow walk emitted, changed while completed (or
    was reopened and completed again between two syncs).

    Args:
        open_now: Whether it is open now.
        open_before: Whether it was open at the last sync.
        created: Its ``created_at``.
        updated: Its ``updated_at``.
        newest_since: The oldest creation a narrow walk's newest pages cover.
        repair_since: The start of the last walk of every page, less the
            lookback.
        emitted: Whether a narrow walk emitted this version of it (known by
            fingerprint, so only for the count: to decide whether to emit the
            record, ask with False).

    Returns:
        True for a missed edit.
    """
    return (
        not open_now
        and not open_before
        and created < newest_since
        and updated >= repair_since
        and not emitted
    )
