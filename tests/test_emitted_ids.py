"""The walk's compact id memories: exact like a dict and a set, far smaller."""

from __future__ import annotations

import random
import tracemalloc
import typing as t

import pytest

from tap_reviewrover.emitted_ids import BLOCK_SIZE, EmittedVersions, IdSet, Kept

SECOND = 1_000_000  # versions are microseconds
NOW = 1_750_000_000 * SECOND


T = t.TypeVar("T")


def pages_of(items: list[T], size: int = 100) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def id_lists() -> list[list[object]]:
    rng = random.Random(7)  # noqa: S311 - reproducible ids
    dense: list[object] = list(range(30_000, 0, -1))
    gappy: list[object] = [i for i in dense if rng.random() < 0.8]
    shuffled = dense[:]
    rng.shuffle(shuffled)
    return [
        dense,  # auto-increment, newest first: the usual list
        gappy,  # deletions, filters
        shuffled,
        list(rng.sample(range(2**62), 5_000)),  # sparse: no blocks
        [-5, -1, 0, 1, 2**63, 2**64],  # beyond any block
        ["a", "b", "enr_1", 3.5, (1, 2)],  # not integers at all
    ]


@pytest.mark.parametrize("ids", id_lists())
def test_an_id_set_holds_exactly_what_was_added(ids: list[object]) -> None:
    seen = IdSet()
    added = ids[: len(ids) // 2]
    for page in pages_of(added):
        seen.update(page)
        seen.update(page[:3])  # again: no change
    assert len(seen) == len(set(added))
    assert all(record_id in seen for record_id in added)
    assert not any(record_id in seen for record_id in ids[len(ids) // 2 :])


@pytest.mark.parametrize("ids", id_lists())
def test_versions_are_kept_exactly_and_only_newer_ones_replace_them(
    ids: list[object],
) -> None:
    versions = EmittedVersions()
    first = [NOW - i * SECOND for i in range(len(ids))]
    for page, stamps in zip(pages_of(ids), pages_of(first), strict=True):
        assert versions.keep_newer(page, stamps) == [Kept.FIRST] * len(page)
    assert len(versions) == len(ids)
    assert [versions.get(i) for i in ids] == first
    # A copy as old, an older one, a newer one (a microsecond newer, too).
    assert versions.keep_newer(ids[:1], first[:1]) == [Kept.NOT_NEWER]
    assert versions.keep_newer(ids[:1], [first[0] - SECOND]) == [Kept.NOT_NEWER]
    assert versions.keep_newer(ids[:1], [first[0] + 1]) == [Kept.NEWER]
    assert versions.get(ids[0]) == first[0] + 1
    assert versions.get(ids[1]) == first[1]
    assert versions.get("never emitted") is None
    assert len(versions) == len(ids)


@pytest.mark.parametrize(
    "stamp",
    [
        NOW + 123,  # to the microsecond: the block widens to 8 bytes
        0,  # the epoch
        -(2**62),  # long before 1932
        2**62,  # long after 2068
    ],
)
def test_versions_outside_whole_seconds_near_today_are_kept_exactly(
    stamp: int,
) -> None:
    versions = EmittedVersions()
    ids = list(range(5_000, 0, -1))
    versions.keep_newer(ids, [NOW] * len(ids))  # 4-byte blocks
    assert versions.keep_newer([2_500], [stamp]) == [
        Kept.NEWER if stamp > NOW else Kept.NOT_NEWER
    ]
    versions.keep_newer([5_001, 9_999_999], [stamp, stamp])
    assert versions.get(2_500) == max(stamp, NOW)
    assert versions.get(5_001) == versions.get(9_999_999) == stamp
    assert versions.get(2_499) == NOW
    assert len(versions) == 5_002


def test_ids_next_to_a_full_block_start_a_block_of_their_own() -> None:
    # Ids one block apart, after a dense block: no chain of near-empty blocks.
    versions = EmittedVersions()
    versions.keep_newer(list(range(BLOCK_SIZE)), [NOW] * BLOCK_SIZE)
    strided = [BLOCK_SIZE * n for n in range(2, 2_000)]
    versions.keep_newer(strided, [NOW] * len(strided))
    assert [versions.get(i) for i in strided] == [NOW] * len(strided)
    assert len(versions) == BLOCK_SIZE + len(strided)


def traced_bytes(ids: list[object]) -> int:
    """Bytes an emitted-version memory and a pass's id set hold for ``ids``."""
    pages = pages_of(ids)
    stamps = [[NOW] * len(page) for page in pages]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        versions, seen = EmittedVersions(), IdSet()
        for page, page_stamps in zip(pages, stamps, strict=True):
            versions.keep_newer(page, page_stamps)
            seen.update(page)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_dense_ids_cost_a_few_bytes_each_not_a_dict_entry() -> None:
    # Under 6 bytes an id (4 for a version to the second, 1 bit for the set,
    # block overhead): about 6 MB for a million ids, where a dict and a set of
    # them take about 75 MB.
    count = 20_000
    assert traced_bytes(list(range(count, 0, -1))) < 6 * count


@pytest.mark.parametrize("ids", id_lists())
def test_versions_kept_with_their_whole_seconds_given_are_the_same(
    ids: list[object],
) -> None:
    # The walk hands over the seconds it read with the usual page: the memory
    # must keep exactly what it keeps when it divides each version itself.
    given, divided = EmittedVersions(), EmittedVersions()
    seconds = [1_750_000_000 - (i % 977) for i in range(len(ids))]
    stamps = [s * SECOND for s in seconds]
    for page, page_stamps, page_seconds in zip(
        pages_of(ids), pages_of(stamps), pages_of(seconds), strict=True
    ):
        kept = given.keep_newer(page, page_stamps, whole_seconds=page_seconds)
        assert kept == divided.keep_newer(page, page_stamps)
    assert len(given) == len(divided) == len(set(ids))
    for record_id in ids:
        assert given.get(record_id) == divided.get(record_id)
    # Again, one second newer: every id is newer, told the same way.
    newer = [[s + 1 for s in page] for page in pages_of(seconds)]
    for page, page_seconds in zip(pages_of(ids), newer, strict=True):
        page_stamps = [s * SECOND for s in page_seconds]
        kept = given.keep_newer(page, page_stamps, whole_seconds=page_seconds)
        assert kept == [Kept.NEWER] * len(page)
        assert divided.keep_newer(page, page_stamps) == kept


def test_whole_seconds_that_are_not_one_per_id_are_refused() -> None:
    versions = EmittedVersions()
    with pytest.raises(ValueError, match="3 whole seconds for 2 ids"):
        versions.keep_newer([2, 1], [NOW, NOW], whole_seconds=[1, 2, 3])
    assert len(versions) == 0
