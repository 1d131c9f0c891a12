"""Timestamps: parsing API and config values, formatting them as the API does.

Pure functions only. The bookmark rules are in :mod:`tap_reviewrover.bookmarks`.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
import typing as t
from email.utils import parsedate_to_datetime
from itertools import repeat
from operator import mul

import msgspec


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


class Versions(t.NamedTuple):
    """The versions of a page's moments.

    Attributes:
        microseconds: Each moment's :func:`microseconds_since_epoch`.
        seconds: Each moment's seconds since the epoch, when every one is a
            whole second (the API's usual page); None otherwise.
    """

    microseconds: t.Sequence[int]
    seconds: tuple[int, ...] | None


class SecondsInMicroseconds(t.Sequence[int]):
    """Whole seconds as microseconds, multiplied out only when first read.

    The usual page's versions are kept by their seconds: most pages never need
    the microseconds.
    """

    __slots__ = ("_microseconds", "_seconds")

    def __init__(self, seconds: tuple[int, ...]) -> None:
        """Hold the seconds.

        Args:
            seconds: Seconds since the epoch.
        """
        self._seconds = seconds
        self._microseconds: list[int] | None = None

    def _values(self) -> list[int]:
        if self._microseconds is None:
            self._microseconds = list(map(mul, self._seconds, repeat(1_000_000)))
        return self._microseconds

    def __len__(self) -> int:
        """How many versions."""
        return len(self._seconds)

    @t.overload
    def __getitem__(self, index: int) -> int: ...
    @t.overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        """A version, or a list of them."""
        return self._values()[index]

    def __iter__(self) -> t.Iterator[int]:
        """The versions, in order."""
        return iter(self._values())


def versions_of_each(moments: t.Iterable[dt.datetime]) -> Versions:
    """The versions of a page's moments, exact.

    The API's timestamps are whole seconds: :func:`whole_seconds_of_each` reads
    such a page in C. Any other page takes :func:`microseconds_since_epoch` of
    each moment: about 2,800 instructions a moment more (measured).

    Args:
        moments: Aware datetimes.

    Returns:
        Their versions, in order.
    """
    moments = list(moments)
    seconds = whole_seconds_of_each(moments)
    if seconds is not None:
        return Versions(SecondsInMicroseconds(seconds), seconds)
    return Versions(list(map(microseconds_since_epoch, moments)), None)


def whole_seconds_of_each(moments: list[dt.datetime]) -> tuple[int, ...] | None:
    """The seconds since the epoch of each moment, when all are whole seconds.

    msgspec writes a list of aware datetimes in MessagePack as timestamps (its
    extension type -1), in C. A moment that is a whole number of seconds from
    1970 to 2106 takes the 6-byte form: ``0xd6 0xff`` and the seconds as an
    unsigned 32-bit big-endian integer. When every moment took that form, the
    seconds are read in one ``struct`` call; any other form (a fraction of a
    second, or a moment outside those years) gives None.

    Args:
        moments: Aware datetimes.

    Returns:
        Their seconds since 1970-01-01T00:00:00Z, in order, or None.
    """
    count = len(moments)
    packed = _MSGPACK.encode(moments)
    # The array's header: 1 byte up to 15 items, 3 up to 65,535, else 5.
    start = 1 if count < _ARRAY16_FROM else 3 if count < _ARRAY32_FROM else 5
    if (
        len(packed) != start + 6 * count
        or packed[start::6] != b"\xd6" * count
        or packed[start + 1 :: 6] != b"\xff" * count
    ):
        return None
    return _seconds_struct(count).unpack_from(packed, start)


@functools.lru_cache(maxsize=8)
def _seconds_struct(count: int) -> struct.Struct:
    # Two marker bytes, then the seconds, for each moment.
    return struct.Struct(">" + "2xI" * count)


_MSGPACK = msgspec.msgpack.Encoder()
#: Sizes from which MessagePack's array header is 3 bytes (array16), then 5.
_ARRAY16_FROM = 16
_ARRAY32_FROM = 65_536


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
