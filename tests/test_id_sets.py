"""The compact sets of the narrow walk's state: exact, small, and strict when read."""

from __future__ import annotations

import base64
import datetime as dt
import random
import struct
import zlib
from array import array
from itertools import accumulate

import pytest

from tap_reviewrover.id_sets import (
    HEADER,
    contains,
    decode_ids,
    encode_ids,
    fingerprint,
)

LARGEST = 2**63 - 1
SMALLEST = -(2**63)


def ids_at(share: float, count: int, seed: int = 1) -> list[int]:
    """Each id of 1..count with chance ``share``: the open ids of an account."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    return [i for i in range(1, count + 1) if rng.random() < share]


def spread(count: int, seed: int, *, after: int = 0) -> array[int]:
    """``count`` ids after ``after``, 20 apart on average: 5 % of a list open.

    Built from small gaps (cached ints) into an array: a million of them take a
    few MB in the test process, whose peak other tests measure.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    gaps = rng.choices(range(1, 40), k=count)
    return array("q", (after + value for value in accumulate(gaps)))


def packed(payload: bytes) -> str:
    return base64.b64encode(zlib.compress(payload)).decode()


@pytest.mark.parametrize(
    "values",
    [
        [],
        [7],
        [0],
        [SMALLEST],
        [LARGEST],
        [SMALLEST, LARGEST],  # the largest gap there is
        [-5, -1, 0, 3],
        [1, 2, 3, 4, 5],
        [1, 256, 257, 100_000, 100_255, 2**40],  # gaps of 255, 256 and more
        list(range(1, 300, 255)),
        ids_at(0.05, 20_000),
        ids_at(0.55, 20_000),
    ],
    ids=lambda values: f"{len(values)} values",
)
def test_every_set_reads_back_exactly(values: list[int]) -> None:
    text = encode_ids(values)
    assert text.isascii()
    assert list(decode_ids(text, most=len(values) or 1)) == values


def test_an_array_encodes_as_its_list_does() -> None:
    values = ids_at(0.2, 5_000)
    assert encode_ids(array("q", values)) == encode_ids(values)


@pytest.mark.parametrize("values", [[3, 2], [1, 1], [5, 9, 9]])
def test_values_that_do_not_increase_are_refused(values: list[int]) -> None:
    with pytest.raises(ValueError, match="not strictly increasing"):
        encode_ids(values)


@pytest.mark.parametrize(
    ("share", "count", "most_bytes"),
    [
        # Measured: 48 KB, 137 KB and 211 KB; a million ids at 5 %: 968 KB.
        (0.05, 1_000_000, 50_000),
        (0.20, 1_000_000, 145_000),
        (0.55, 1_000_000, 220_000),
    ],
)
def test_a_million_ids_make_a_small_text(
    share: float, count: int, most_bytes: int
) -> None:
    values = ids_at(share, count)
    text = encode_ids(values)
    assert len(text) <= most_bytes
    assert decode_ids(text, most=len(values)) == array("q", values)


def test_a_state_of_a_million_open_ids_is_under_a_megabyte_and_reads_back() -> None:
    values = spread(1_000_000, seed=3)  # 5 % open of 20 million
    assert 19_000_000 < values[-1] < 21_000_000
    text = encode_ids(values)
    assert len(text) < 1_000_000  # 968 KB measured
    assert decode_ids(text, most=1_000_000) == values


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not base64!", "not base64 of zlib data"),
        ("é", "not base64 of zlib data"),
        (base64.b64encode(b"not zlib").decode(), "not base64 of zlib data"),
        (packed(b"\x01\x02"), "too short"),
        (packed(HEADER.pack(1, 5) + b"\x01"), "do not add up"),  # cut short
        (packed(HEADER.pack(1, 1) + b"\x00"), "do not add up"),  # no large gap
        (packed(HEADER.pack(1, 1) + b"\x00" + struct.pack("<Q", 0)), "add up"),
        (packed(HEADER.pack(1, 1) + b"\x01" + b"\x00" * 3), "do not add up"),
        (packed(HEADER.pack(LARGEST, 1) + b"\x01"), "beyond 64 bits"),
        (
            packed(HEADER.pack(1, 1) + b"\x00" + struct.pack("<Q", LARGEST)),
            "beyond 64 bits",
        ),
        (encode_ids(list(range(1, 12))), "more than 10"),
        (
            packed(HEADER.pack(1, 0) + b"\x00" * 1000),  # large gaps cut short
            "more than 10 values, or is cut short",
        ),
        (base64.b64encode(zlib.compress(b"x" * 100)[:-4]).decode(), "cut short"),
    ],
)
def test_a_text_that_is_no_such_set_is_refused_with_the_reason(
    text: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_ids(text, most=10)


def test_a_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = packed(HEADER.pack(1, 5_000_000) + b"\x01" * 5_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(ValueError, match="more than 1000 values"):
        decode_ids(bomb, most=1000)


@pytest.mark.parametrize(
    ("value", "found"),
    [(1, 0), (2, None), (256, 1), (2**40, 3), (2**41, None), (-1, None)],
)
def test_contains_finds_the_position_of_a_member(value: int, found: int | None) -> None:
    values = array("q", [1, 256, 300, 2**40])
    assert contains(values, value) == found


def test_a_fingerprint_is_the_same_everywhere_and_tells_versions_apart() -> None:
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    later = at + dt.timedelta(seconds=1)
    leap = dt.datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.timezone.utc)
    paris = at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert fingerprint(7, at) == 2_280_771_555  # fixed: the state outlives runs
    assert fingerprint(7, paris) == fingerprint(7, at)  # the same moment
    assert len({fingerprint(7, at), fingerprint(7, later), fingerprint(8, at)}) == 3
    assert fingerprint(7, leap) != fingerprint(7, leap.replace(microsecond=0))
    assert 0 <= fingerprint(2**63 - 1, leap) < 2**32
