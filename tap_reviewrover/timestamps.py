"""Timestamp rules: parsing API and config values, and the bookmark rule.

Pure functions only; the stream calls them and the unit tests pin them down.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime

#: How far before the API's clock at the start of a sync the next bookmark is set.
#: The ``Date`` header is rounded down to the second and is stamped a moment after
#: the page was read, and the API's web and database servers need not agree to the
#: millisecond; a minute of overlap costs a few re-emitted rows, never a lost one.
BOOKMARK_SAFETY_MARGIN = dt.timedelta(seconds=60)
#: How far the API's ``Date`` may be from this host's clock and still give the
#: bookmark (see :func:`trusted_api_clock`). Real clocks agree within seconds; an
#: hour leaves room for a badly kept host without trusting a broken ``Date``.
MAX_CLOCK_SKEW = dt.timedelta(hours=1)


class InvalidTimestampError(ValueError):
    """A value that should be an ISO 8601 timestamp is not one."""


def parse_timestamp(value: str) -> dt.datetime:
    """Parse an ISO 8601 date or date-time into an aware UTC datetime.

    A date alone means midnight UTC; a date-time without an offset is taken as UTC.
    ``Z`` is accepted on every supported Python (3.10's ``fromisoformat`` lacks it).
    Strict on purpose, as these values come from settings and state files: no
    surrounding spaces, an upper-case ``T`` and ``Z``, and a moment that exists in
    UTC (``0001-01-01T00:00:00+01:00`` does not).

    Args:
        value: Text such as ``2025-02-17``, ``2025-02-17T02:00:34Z`` or
            ``2025-02-17T02:00:34.5+01:00``.

    Returns:
        The moment, in UTC.

    Raises:
        InvalidTimestampError: If the text is not such a date or date-time.
    """
    text = value if isinstance(value, str) else ""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # fromisoformat accepts "2025-02-17 02:00" and more; ISO 8601 wants the "T".
    if (
        len(text) < 10  # noqa: PLR2004 - YYYY-MM-DD
        or (len(text) > 10 and text[10] != "T")  # noqa: PLR2004
        or not text.isascii()
        or text != text.strip()
        or not text[:4].isdigit()
    ):
        raise InvalidTimestampError(value)
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidTimestampError(value) from None


def format_timestamp(moment: dt.datetime) -> str:
    """Format an aware datetime the way the API does: UTC with a ``Z``.

    Args:
        moment: An aware datetime.

    Returns:
        ISO 8601 text such as ``2025-02-17T02:00:34Z`` (with microseconds if any).
    """
    text = moment.astimezone(dt.timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"


def microseconds_since_epoch(moment: dt.datetime) -> int:
    """An aware datetime as an integer that orders like it, exactly.

    Args:
        moment: An aware datetime.

    Returns:
        Microseconds since 1970-01-01T00:00:00Z (negative before it).
    """
    return (moment - _EPOCH) // _MICROSECOND


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def parse_http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP ``Date``-style header (RFC 9110 IMF-fixdate and its ancestors).

    Args:
        value: The header value, or None when the header is absent.

    Returns:
        The moment in UTC, or None when the header is absent or unreadable.
    """
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def next_bookmark(api_clock_at_start: dt.datetime | None) -> dt.datetime | None:
    """Where the next incremental sync may start, once a sync has read every page.

    The API lists enrollments by creation, not by update, so a record updated while
    the sync runs may sit on a page already read: the only safe bookmark is the
    moment the sync started, as the API's own clock tells it (the tap host's clock
    may be minutes off), less :data:`BOOKMARK_SAFETY_MARGIN`. It is deliberately not
    the newest ``updated_at`` seen: that can lie after the start of the sync.

    Args:
        api_clock_at_start: The ``Date`` of the sync's first response, if the API
            sent one.

    Returns:
        The new bookmark, or None when the API's clock is unknown (the caller then
        keeps the previous bookmark).
    """
    if api_clock_at_start is None:
        return None
    return api_clock_at_start - BOOKMARK_SAFETY_MARGIN


def trusted_api_clock(
    api_clock: dt.datetime | None,
    host_now: dt.datetime,
) -> dt.datetime | None:
    """The API's clock, if it is close enough to this host's to be believed.

    The bookmark is taken from the API's clock, not the host's, because the host
    may be minutes off. But a ``Date`` far from the host's clock (a proxy with a
    broken clock, a jump) would set a bookmark that hides every update until the
    real clock catches up, so beyond :data:`MAX_CLOCK_SKEW` it is not used.

    Args:
        api_clock: The ``Date`` of a response, if it had one.
        host_now: This host's clock when the response arrived.

    Returns:
        ``api_clock``, or None when it is missing or too far off.
    """
    if api_clock is None or abs(api_clock - host_now) > MAX_CLOCK_SKEW:
        return None
    return api_clock


def incremental_start(
    bookmark: dt.datetime | None,
    start_date: dt.datetime | None,
    now: dt.datetime,
) -> tuple[dt.datetime | None, bool]:
    """From which ``updated_at`` an incremental sync emits records.

    Normally the later of the bookmark and ``start_date``. A bookmark later than
    the API's clock now cannot have been set by a sync that read the list before
    now (a state edited by hand, or written after the API's clock jumped ahead):
    every update since the real last sync would sit before it and be skipped, so
    the sync reads from ``start_date`` instead (everything, without one).

    Args:
        bookmark: The state's bookmark, if any.
        start_date: The ``start_date`` setting, if any.
        now: The API's clock now (this host's when the API's is not trusted).

    Returns:
        The first ``updated_at`` to emit (None: every record), rounded down to the
        second (the API's timestamps have no fraction: a record from the same
        second is kept, never dropped), and whether the bookmark was set aside for
        lying in the future.
    """
    set_aside = bookmark is not None and bookmark > now
    candidates = [start_date] if set_aside else [bookmark, start_date]
    moments = [moment for moment in candidates if moment is not None]
    since = max(moments).replace(microsecond=0) if moments else None
    return since, set_aside
