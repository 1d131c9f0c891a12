"""Sets of integers kept in the state, small: sorted, as deltas, zlib, base64.

The narrow walk (``walkers.open_enrollments``) keeps the ids of the open
enrollments between syncs, up to a million of them, in a state that Meltano
stores as JSON. A sorted set is written as its first value and the gaps between
neighbours; a gap under 256 is one byte, a larger one a zero byte there and its
8 bytes in a second stream; zlib packs the result and base64 makes it text.
Ids of a growing account are close together, so gaps are small and their bytes
repeat: the text is about what the gaps' entropy allows (measured in the
README: 49,757 ids at 5 % of 1M ids take 48 KB of text, 549,686 at 55 % 211 KB,
a million at 5 % of 20M 968 KB).

Decoding is the hot part (a sync reads the set before its first request): runs
of one-byte gaps are summed by ``itertools.accumulate`` in C, and a large gap
costs one step in Python. Every decoded value is checked: strictly increasing,
within 64 bits, no more than the caller allows (so a corrupt or hostile state
cannot exhaust memory).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from itertools import accumulate, islice
from operator import sub
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

#: The header: the first value (signed 64 bits) and the bytes of small gaps.
HEADER = struct.Struct("<qI")
#: Gaps below this are one byte; 0 marks a larger one, kept in the second stream.
SMALL_GAP = 256
#: The most a set may grow when decompressed, per value: a marker and 8 bytes.
BYTES_PER_VALUE = 9


def encode_ids(values: Sequence[int]) -> str:
    """The compact text of a set of integers.

    Args:
        values: Strictly increasing integers within 64 bits (signed).

    Returns:
        The text (ASCII); an empty set is the empty string.

    Raises:
        ValueError: If the values are not strictly increasing.
    """
    if not values:
        return ""
    gaps = list(map(sub, islice(values, 1, None), values))
    if gaps and min(gaps) <= 0:
        msg = "the values are not strictly increasing"
        raise ValueError(msg)
    if not gaps or max(gaps) < SMALL_GAP:
        small, large = bytes(gaps), array("Q")
    else:
        small = bytes(gap if gap < SMALL_GAP else 0 for gap in gaps)
        large = array("Q", [gap for gap in gaps if gap >= SMALL_GAP])
    if sys.byteorder == "big":  # pragma: no cover - the format is little-endian
        large.byteswap()
    payload = HEADER.pack(values[0], len(small)) + small + large.tobytes()
    return base64.b64encode(zlib.compress(payload)).decode("ascii")


def decode_ids(text: str, *, most: int) -> array[int]:
    """The set of integers :func:`encode_ids` wrote, checked.

    Args:
        text: The text.
        most: The most values accepted.

    Returns:
        The values, strictly increasing (an ``array`` of signed 64 bits).

    Raises:
        ValueError: If the text is not such a set, or holds more than ``most``.
    """
    if not text:
        return array("q")
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        payload = inflater.decompress(packed, HEADER.size + BYTES_PER_VALUE * most + 1)
    except (UnicodeEncodeError, binascii.Error, zlib.error) as exc:
        msg = f"it is not base64 of zlib data ({exc})"
        raise ValueError(msg) from None
    if inflater.unconsumed_tail or not inflater.eof:
        msg = f"it holds more than {most} values, or is cut short"
        raise ValueError(msg)
    if len(payload) < HEADER.size:
        msg = "it is too short"
        raise ValueError(msg)
    first, small_size = HEADER.unpack_from(payload)
    small = payload[HEADER.size : HEADER.size + small_size]
    rest = payload[HEADER.size + small_size :]
    if len(rest) % 8:
        msg = "its parts do not add up"
        raise ValueError(msg)
    large = array("Q", rest)
    if sys.byteorder == "big":  # pragma: no cover - the format is little-endian
        large.byteswap()
    runs = small.split(b"\0")
    if len(small) != small_size or len(runs) != len(large) + 1 or 0 in large:
        msg = "its parts do not add up"
        raise ValueError(msg)
    if small_size + 1 > most:
        msg = f"it holds {small_size + 1} values, more than {most}"
        raise ValueError(msg)
    return _summed(first, runs, large)


def _summed(first: int, runs: list[bytes], large: array[int]) -> array[int]:
    values = array("q", [first])
    last = first
    try:
        for position, run in enumerate(runs):
            if position:
                last += large[position - 1]
                values.append(last)
            if run:
                sums = accumulate(run, initial=last)
                next(sums)  # ``last`` itself
                values.extend(sums)  # in C, no list between
                last = values[-1]
    except OverflowError:
        msg = "a value is beyond 64 bits"
        raise ValueError(msg) from None
    return values


def contains(values: array[int], value: int) -> int | None:
    """Where ``value`` is in a sorted set, or None.

    Args:
        values: Strictly increasing values.
        value: The value to look for.

    Returns:
        Its position, or None when it is not there.
    """
    position = bisect_left(values, value)
    return position if position < len(values) and values[position] == value else None


def fingerprint(record_id: int, updated_at: dt.datetime) -> int:
    """A 32-bit fingerprint of one version of a record: its id and last change.

    Args:
        record_id: The record's id.
        updated_at: When it last changed (aware).

    Returns:
        The fingerprint (stable across runs and machines).
    """
    seconds = int(updated_at.timestamp())  # whole seconds: exact
    micro = updated_at.microsecond
    key = struct.pack("<qqi", record_id, seconds, micro)
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little")
