"""Timestamp rules: parsing API and config values, and the bookmark rule.

Pure functions only; the stream calls them and the unit tests pin them down.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from email.utils import parsedate_to_datetime

#: How far before the API's clock at the start of a sync the next bookmark is set.
#: The ``Date`` header is rounded down to the second and is stamped a moment after
#: the page was read, and the API's web and database servers need not agree to the
#: millisecond; a minute of overlap costs a few re-emitted rows, never a lost one.
BOOKMARK_SAFETY_MARGIN = dt.timedelta(seconds=60)
#: Characters in the API's usual timestamp form, ``2025-02-17T02:00:34Z``.
API_FORM_LENGTH = 20


class InvalidTimestampError(ValueError):
    """A value that should be an ISO 8601 timestamp is not one."""


def parse_timestamp(value: str) -> dt.datetime:
    """Parse an ISO 8601 date or date-time into an aware UTC datetime.

    A date alone means midnight UTC; a date-time without an offset is taken as UTC.
    ``Z`` is accepted on every supported Python (3.10's ``fromisoformat`` lacks it).

    Args:
        value: Text such as ``2025-02-17``, ``2025-02-17T02:00:34Z`` or
            ``2025-02-17T02:00:34.5+01:00``.

    Returns:
        The moment, in UTC.

    Raises:
        InvalidTimestampError: If the text is not an ISO 8601 date or date-time.
    """
    text = value.strip() if isinstance(value, str) else ""
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    # fromisoformat accepts "2025-02-17 02:00" too; ISO 8601 wants the "T".
    if len(text) < 10 or (len(text) > 10 and text[10] not in "Tt"):  # noqa: PLR2004
        raise InvalidTimestampError(value)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTimestampError(value) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def format_timestamp(moment: dt.datetime) -> str:
    """Format an aware datetime the way the API does: UTC with a ``Z``.

    Args:
        moment: An aware datetime.

    Returns:
        ISO 8601 text such as ``2025-02-17T02:00:34Z`` (with microseconds if any).
    """
    text = moment.astimezone(dt.timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"


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


def is_api_form(value: str) -> bool:
    """Whether ``value`` looks like the API's usual ``YYYY-MM-DDTHH:MM:SSZ``.

    Text in that one fixed-width form sorts exactly like the moments it names, so
    hot paths may compare it without parsing.

    Args:
        value: A timestamp as the API sent it.

    Returns:
        True for the fixed-width UTC form.
    """
    return len(value) == API_FORM_LENGTH and value[19] == "Z" and value[10] == "T"


def updated_since(since: dt.datetime) -> t.Callable[[str], bool]:
    """Build the per-record test "was this updated at or after ``since``?".

    It runs once per record on every sync (every sync reads every page), so the
    API's usual ``YYYY-MM-DDTHH:MM:SSZ`` form is compared as text, which orders
    exactly like the moments it names. ``since`` is rounded down to the second for
    that comparison: a record from the same second is kept, never dropped. Any
    other form is parsed.

    Args:
        since: The bookmark or start date.

    Returns:
        A function of an ``updated_at`` value.
    """
    since_utc = since.astimezone(dt.timezone.utc)
    since_text = since_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    def is_at_or_after(value: str) -> bool:
        if is_api_form(value):
            return value >= since_text
        return parse_timestamp(value) >= since_utc

    return is_at_or_after
