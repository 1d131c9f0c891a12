r"""Values a page may hold that msgspec cannot read or a warehouse cannot store.

Decoding (:mod:`tap_reviewrover.records`) is strict and fast. The functions here
run only for the rare page that needs them: a failed decode, or a cheap test of
the raw bytes, says when. They work on the page as plain JSON values.

- **Text that is not Unicode** (a lone UTF-16 surrogate such as ``\ud800``, which
  JSON's syntax allows, or bytes that are not UTF-8) **and NUL characters**
  (``\u0000``): PostgreSQL's ``text`` holds neither, and a target that meets one
  fails the whole load. Each is replaced with U+FFFD and reported (see
  :class:`~tap_reviewrover.records.PageDecoder` for why the tap does not stop).
- **A leap second** (``2016-12-31T23:59:60Z``): valid RFC 3339 that Python's
  ``datetime`` (and so msgspec) cannot hold. It is read as ``23:59:59.999999``
  of that minute: see :func:`read_leap_second`.
"""

from __future__ import annotations

import json
import math
import re
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Collection, Sequence

#: What replaces text a warehouse cannot store: U+FFFD, Unicode's own mark for it.
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
#: A NUL as JSON writes it, the only way one can be in a body (a raw one is not
#: JSON). The bytes may also be an escaped backslash before ``u0000``: the
#: repair then finds nothing to replace.
_NUL_ESCAPE = b"\\u0000"
#: What no text column holds: NUL, and surrogates (a JSON decoder pairs a valid
#: pair into one character; ``surrogateescape`` turns bytes that are not UTF-8
#: into lone ones).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = "\x00"
#: A leap second's ``:60`` after a time, in the raw bytes.
_LEAP_SECOND_BYTES = re.compile(rb"\d\d:\d\d:60[.Zz+-]")
_LEAP_SECOND = re.compile(
    r"(?P<minute>\d{4}-\d\d-\d\d[Tt ](?P<hh>\d\d):(?P<mm>\d\d)):60(?:\.\d+)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zh>\d\d):(?P<zm>\d\d))\Z"
)
_MINUTES_A_DAY = 24 * 60

#: Why a string was replaced, as the warning says it.
NUL = "a NUL character"
NOT_UNICODE = "a lone surrogate or bytes not UTF-8"
_PROBLEMS = (NOT_UNICODE, NUL)


@dataclass(frozen=True)
class Repair:
    """A field of a record whose text was replaced with U+FFFD.

    Attributes:
        position: The record's index on its page.
        field: The field (a top-level property of the record).
        problem: What it held: :data:`NOT_UNICODE`, :data:`NUL`, or both.
    """

    position: int
    field: str
    problem: str


def may_hold_nul(content: bytes) -> bool:
    r"""Whether a body may hold a NUL (a ``\u0000`` escape), cheaply.

    A clean page pays a search for one byte, at ``memchr`` speed: a backslash is
    rare in JSON (escapes only). Only a page with one pays for the six-byte
    search, which costs a tenth of decoding the page on CPython 3.11.

    Args:
        content: The raw body.

    Returns:
        False when it surely holds none.
    """
    return b"\\" in content and _NUL_ESCAPE in content


def has_leap_second(content: bytes) -> bool:
    """Whether a body may hold a leap second (``...:60Z``, ``...:60.5+01:00``).

    Args:
        content: The raw body.

    Returns:
        False when it surely holds none.
    """
    return _LEAP_SECOND_BYTES.search(content) is not None


def read_leap_second(text: str) -> str | None:
    """The timestamp a leap second is read as, or None for any other text.

    ``23:59:60`` (in UTC: ``00:59:60+01:00`` is one too) becomes ``23:59:59.999999``
    of the same day and offset: the last moment a ``datetime`` can hold before the
    next minute. It keeps the record's order among all other timestamps, and the
    incremental filter (``updated_at >= emit_from``) can never skip it: any moment
    at or before the leap second that a ``datetime`` can hold is at or before
    23:59:59.999999. ``23:59:59`` could fall before an ``emit_from`` of
    23:59:59.5 and lose the update; ``00:00:00`` of the next day (PostgreSQL's
    reading) would date it after moments that came later.

    A ``:60`` at any other minute is no leap second: None, and the decoder refuses
    it as before.

    Args:
        text: A timestamp field's value.

    Returns:
        The replacement text, or None.
    """
    match = _LEAP_SECOND.match(text)
    if match is None:
        return None
    minutes = int(match["hh"]) * 60 + int(match["mm"])
    if match["sign"]:
        offset = int(match["zh"]) * 60 + int(match["zm"])
        minutes -= offset if match["sign"] == "+" else -offset
    if minutes % _MINUTES_A_DAY != _MINUTES_A_DAY - 1:
        return None
    return f"{match['minute']}:59.999999{match['zone']}"


def storable(text: str) -> tuple[str, set[str]]:
    """The text with each NUL and lone surrogate replaced with U+FFFD.

    Args:
        text: Any string.

    Returns:
        The text, and what was replaced (:data:`NUL`, :data:`NOT_UNICODE`):
        empty when nothing was.
    """
    if _UNSTORABLE.search(text) is None:
        return text, set()
    problems = {NUL} if _NUL in text else set()
    if _SURROGATE.search(text):
        problems.add(NOT_UNICODE)
    return _UNSTORABLE.sub(REPLACEMENT, text), problems


def parse_leniently(content: bytes) -> t.Any:  # noqa: ANN401 - any JSON value
    """A body as plain values, keeping what msgspec refuses to decode.

    A lone surrogate escape stays a lone surrogate, and bytes that are not UTF-8
    become lone surrogates (``surrogateescape``), for :func:`repair_page` to
    replace. Everything else that msgspec refuses is refused here too: ``NaN``,
    numbers beyond a double, raw control characters, a byte-order mark.

    Args:
        content: The raw body.

    Returns:
        The JSON value.

    Raises:
        ValueError: If it is not JSON even so.
    """
    try:
        return json.loads(
            content.decode("utf-8", "surrogateescape"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        msg = "nested too deep"
        raise ValueError(msg) from None


def _refuse_constant(name: str) -> t.NoReturn:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        msg = f"{text} is beyond a double"
        raise ValueError(msg)
    return number


def repair_page(
    body: object,
    records_key: str,
    fields: Collection[str],
    timestamp_fields: Collection[str],
) -> list[Repair]:
    """Make a decoded body storable and readable, in place.

    Every string (and object key) anywhere in the body loses its NULs and lone
    surrogates, so that it encodes as JSON again; those in a field of a record
    are reported. A leap second in a timestamp field is read as
    :func:`read_leap_second` says, silently: it is valid data.

    Args:
        body: The body as plain values (:func:`parse_leniently`, or
            ``msgspec.json.decode``).
        records_key: The key of the record list.
        fields: The fields the schema knows: only they reach the output.
        timestamp_fields: The fields that hold RFC 3339 timestamps.

    Returns:
        The record fields whose text was replaced, in page order.

    Raises:
        RecursionError: If the body is nested too deep to walk.
    """
    repairs: list[Repair] = []
    records = body.get(records_key) if isinstance(body, dict) else None
    for position, record in enumerate(records if isinstance(records, list) else ()):
        if not isinstance(record, dict):
            continue
        for field in [name for name in record if name in fields]:
            value, problems = _storable_value(record[field])
            if field in timestamp_fields and isinstance(value, str):
                value = read_leap_second(value) or value
            record[field] = value
            if problems:
                problem = ", and ".join(sorted(problems, key=_PROBLEMS.index))
                repairs.append(Repair(position, field, problem))
    _storable_value(body)
    return repairs


def _storable_value(value: object) -> tuple[object, set[str]]:
    """A JSON value with :func:`storable` text throughout (lists and dicts in place)."""
    if isinstance(value, str):
        return storable(value)
    problems: set[str] = set()
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index], found = _storable_value(item)
            problems |= found
    elif isinstance(value, dict):
        for key in list(value):  # each key re-inserted: the order is kept
            item, found = _storable_value(value.pop(key))
            clean_key, key_found = storable(key)
            value[clean_key] = item
            problems |= found | key_found
    return value, problems


def describe(repairs: Sequence[tuple[object, Repair]], limit: int = 5) -> str:
    """The warning for the repaired records a page emitted.

    Args:
        repairs: The ``id`` of each record emitted, and its repair.
        limit: How many to name; the rest are counted.

    Returns:
        One line, such as ``... record id 7: `contact_id` (a NUL character) ...``.
    """
    named = [
        f"record id {record_id!r}: `{repair.field}` ({repair.problem})"
        for record_id, repair in repairs[:limit]
    ]
    more = len(repairs) - limit
    rest = f"; and {more} more" if more > 0 else ""
    return (
        "ReviewRover sent text a warehouse cannot store, replaced with U+FFFD in "
        f"the records emitted: {'; '.join(named)}{rest}. The rest of each record "
        "is as sent; tell ReviewRover, whose data holds it."
    )
