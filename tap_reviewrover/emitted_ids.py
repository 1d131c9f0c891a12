"""Compact memories of record ids, for walks of millions of records.

A walk remembers every id it emitted, with the version it emitted (so that a
second copy of a record is emitted only if it is newer), and, once it starts
over, every id its current pass read (to count distinct records against the
list's total). Python's own dict and set spend about 75 bytes an id; ids here
are mostly dense positive integers (the API's auto-increment), so they are kept
in blocks of :data:`BLOCK_SIZE` consecutive ids: 4 bytes an id for a version to
the second (8 for a finer one, or one far from today), one bit an id for
membership. Ids too sparse to fill a block (or not integers at all) stay in a
plain dict or set until :data:`DENSE_FROM` of one block are known; a block next
to a well-filled one starts at once. Both take a page of ids at a time: a call
per id would cost more than the rest of the walk.
"""

from __future__ import annotations

import collections
import enum
import itertools
import operator
import typing as t
from array import array

#: Ids per block (a power of 2).
BLOCK_BITS = 10
BLOCK_SIZE = 1 << BLOCK_BITS
_SLOT = BLOCK_SIZE - 1
#: Ids of one block from which it is kept dense (and the blocks next to it start
#: dense): below that, a dict or set entry each costs less than the block.
DENSE_FROM = 64
#: Loose ids from which the first grouping into blocks is tried (then at twice
#: the loose ids left each time, so that grouping stays linear on the whole).
FIRST_GROUPING = 4096

_MICROSECONDS = 1_000_000
#: Versions to the second are kept as 4-byte seconds from 2000-01-01T00:00:00Z.
_SECONDS_BASE = 946_684_800
_ABSENT_32 = -(2**31)
_MOST_32 = 2**31 - 1
_ABSENT_64 = -(2**63)


class Kept(enum.IntEnum):
    """What :meth:`EmittedVersions.keep_newer` did with a version."""

    FIRST = 0  # the id had none: kept
    NEWER = 1  # newer than the one the id had: kept
    NOT_NEWER = 2  # the id has one at least as new: not kept


class _Grouping:
    """When to group loose ids into blocks, and how many ids there are."""

    def __init__(self) -> None:
        self.count = 0
        self.group_at = FIRST_GROUPING

    def dense_blocks(self, loose: t.Iterable[object]) -> list[int]:
        """The blocks with enough loose ids to be dense."""
        counts = collections.Counter(
            i >> BLOCK_BITS for i in loose if type(i) is int and i >= 0
        )
        return [block for block, count in counts.items() if count >= DENSE_FROM]

    def grouped(self, loose_left: int) -> None:
        """Note the loose ids left after a grouping."""
        self.group_at = max(FIRST_GROUPING, 2 * loose_left)


def _ids_of_block(number: int, loose: t.Container[object]) -> list[int]:
    first = number << BLOCK_BITS
    return [i for i in range(first, first + BLOCK_SIZE) if i in loose]


class IdSet:
    """A set of ids: a bit each in dense blocks, a set entry otherwise."""

    def __init__(self) -> None:
        """Start empty."""
        self._blocks: dict[int, bytearray] = {}
        self._loose: set[object] = set()
        self._grouping = _Grouping()

    def __len__(self) -> int:
        """How many distinct ids were added."""
        return self._grouping.count

    def __contains__(self, record_id: object) -> bool:
        """Whether the id was added."""
        if type(record_id) is int and record_id >= 0:
            block = self._blocks.get(record_id >> BLOCK_BITS)
            if block is not None:
                slot = record_id & _SLOT
                return bool(block[slot >> 3] & (1 << (slot & 7)))
        return record_id in self._loose

    def update(self, ids: t.Iterable[object]) -> None:
        """Add ids (again or not)."""
        blocks, grouping, loose = self._blocks, self._grouping, self._loose
        for record_id in ids:
            if type(record_id) is int and record_id >= 0:
                number = record_id >> BLOCK_BITS
                block = blocks.get(number)
                if block is None and self._next_to_a_dense_block(number):
                    block = self._new_block(number)
                if block is not None:
                    slot = record_id & _SLOT
                    bit, byte = 1 << (slot & 7), slot >> 3
                    if not block[byte] & bit:
                        block[byte] |= bit
                        grouping.count += 1
                    continue
            if record_id not in loose:
                loose.add(record_id)
                grouping.count += 1
                if len(loose) >= grouping.group_at:
                    for number in grouping.dense_blocks(loose):
                        self._new_block(number)
                    grouping.grouped(len(loose))
                    loose = self._loose = set(loose)  # a set never shrinks

    def _next_to_a_dense_block(self, number: int) -> bool:
        # Dense ids run on from block to block: start the next one at once.
        return any(
            block is not None
            and int.from_bytes(block, "little").bit_count() >= DENSE_FROM
            for block in (self._blocks.get(number - 1), self._blocks.get(number + 1))
        )

    def _new_block(self, number: int) -> bytearray:
        """Start block ``number``, with the loose ids that belong in it."""
        block = self._blocks[number] = bytearray(BLOCK_SIZE // 8)
        moving = _ids_of_block(number, self._loose)
        self._loose.difference_update(moving)
        for record_id in moving:
            slot = record_id & _SLOT
            block[slot >> 3] |= 1 << (slot & 7)
        return block


class EmittedVersions:
    """The version each id was last emitted with: 4 bytes an id in dense blocks.

    A version is an integer (microseconds since the Unix epoch, for a
    timestamp). Whole seconds within 68 years of 2000 take 4 bytes; a block
    that gets any other version is widened to 8 bytes an id, exactly.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._blocks: dict[int, array[int]] = {}
        self._loose: dict[object, int] = {}
        self._grouping = _Grouping()

    def __len__(self) -> int:
        """How many distinct ids have a version."""
        return self._grouping.count

    def get(self, record_id: object) -> int | None:
        """The version the id was last emitted with, or None if it never was."""
        if type(record_id) is int and record_id >= 0:
            block = self._blocks.get(record_id >> BLOCK_BITS)
            if block is not None:
                value = block[record_id & _SLOT]
                if block.typecode == "i":
                    if value == _ABSENT_32:
                        return None
                    return (value + _SECONDS_BASE) * _MICROSECONDS
                return None if value == _ABSENT_64 else value
        return self._loose.get(record_id)

    def keep_newer(  # noqa: C901, PLR0912 - one loop on purpose: a call an id costs too much
        self,
        ids: t.Iterable[object],
        versions: t.Sequence[int],
        *,
        whole_seconds: t.Sequence[int] | None = None,
    ) -> list[Kept]:
        """Keep each version for its id unless the id has one at least as new.

        Args:
            ids: The ids (each once).
            versions: The version of each id's copy at hand.
            whole_seconds: The versions in seconds since the epoch, if every one
                is a whole second and the caller has them (each version is then
                its seconds times a million); None to work them out.

        Returns:
            For each id: its first version, a newer one, or not newer.
        """
        ids = list(ids)
        if whole_seconds is not None and len(whole_seconds) != len(ids):
            # Seconds of other ids would be kept as these ids' versions.
            msg = f"{len(whole_seconds)} whole seconds for {len(ids)} ids"
            raise ValueError(msg)
        if not ids:
            return []
        if whole_seconds is None:
            versions = list(versions)  # compared as a list on the fast path
        if self._all_first_in_blocks(ids, versions, whole_seconds):
            return [Kept.FIRST] * len(ids)  # (the versions were never read)
        if whole_seconds is not None:
            versions = list(versions)
        blocks, grouping = self._blocks, self._grouping
        first, newer, not_newer = Kept.FIRST, Kept.NEWER, Kept.NOT_NEWER
        kept: list[Kept] = []
        keep = kept.append
        for record_id, version in zip(ids, versions, strict=True):
            block = None
            if type(record_id) is int and record_id >= 0:
                number, slot = record_id >> BLOCK_BITS, record_id & _SLOT
                block = blocks.get(number)
                if block is None and self._next_to_a_dense_block(number):
                    block = self._new_block(number)
            if block is None:
                keep(self._keep_loose(record_id, version))
                continue
            value, absent = version, _ABSENT_64
            if block.typecode == "i":
                seconds, fraction = divmod(version, _MICROSECONDS)
                seconds -= _SECONDS_BASE
                if not fraction and _ABSENT_32 < seconds <= _MOST_32:
                    value, absent = seconds, _ABSENT_32
                else:
                    block = blocks[number] = _widened(block)
            before = block[slot]
            if before == absent:
                block[slot] = value
                grouping.count += 1
                keep(first)
            elif before < value:
                block[slot] = value
                keep(newer)
            else:
                keep(not_newer)
        return kept

    def _all_first_in_blocks(
        self,
        ids: list[object],
        versions: t.Sequence[int],
        whole: t.Sequence[int] | None,
    ) -> bool:
        """Keep a page of consecutive new ids, newest first, at once if it is one.

        That is the usual page, so it has a path of its own: built-in ``map``,
        slices and list methods do the per-id work, as a Python loop over its
        ids would cost more than the rest of the walk.

        Returns:
            Whether they were such a page (and are kept now).
        """
        high, low = ids[0], ids[-1]
        if type(high) is not int or type(low) is not int or low < 0:
            return False
        if high - low != len(ids) - 1 or ids != list(range(high, low - 1, -1)):
            return False  # (and when they are, they are all integers)
        if whole is None:  # the caller did not have them: divide each
            million = _MICROSECONDS
            whole = list(map(operator.floordiv, versions, itertools.repeat(million)))
            if list(map(operator.mul, whole, itertools.repeat(million))) != versions:
                return False  # a fraction of a second: not this path
        seconds = list(map(operator.sub, whole, itertools.repeat(_SECONDS_BASE)))
        if min(seconds) <= _ABSENT_32 or max(seconds) > _MOST_32:
            return False
        seconds.reverse()  # oldest first, as the slots go
        parts = []
        while seconds:  # one part a block: at most two for a page of 100
            number, slot = low >> BLOCK_BITS, low & _SLOT
            block = self._blocks.get(number)
            if block is None and self._next_to_a_dense_block(number):
                block = self._new_block(number)
            count = min(len(seconds), BLOCK_SIZE - slot)
            if (
                block is None
                or block.typecode != "i"
                or block[slot : slot + count].count(_ABSENT_32) != count
            ):
                return False
            parts.append((block, slot, seconds[:count]))
            low, seconds = low + count, seconds[count:]
        for block, slot, values in parts:
            block[slot : slot + len(values)] = array("i", values)
        self._grouping.count += len(ids)
        return True

    def _keep_loose(self, record_id: object, version: int) -> Kept:
        loose, grouping = self._loose, self._grouping
        before = loose.get(record_id)
        if before is not None:
            if before >= version:
                return Kept.NOT_NEWER
            loose[record_id] = version
            return Kept.NEWER
        loose[record_id] = version
        grouping.count += 1
        if len(loose) >= grouping.group_at:
            for number in grouping.dense_blocks(loose):
                self._new_block(number)
            grouping.grouped(len(loose))
            self._loose = dict(loose)  # a dict never shrinks
        return Kept.FIRST

    def _next_to_a_dense_block(self, number: int) -> bool:
        # Dense ids run on from block to block: start the next one at once.
        for block in (self._blocks.get(number - 1), self._blocks.get(number + 1)):
            if block is not None:
                absent = _ABSENT_32 if block.typecode == "i" else _ABSENT_64
                if BLOCK_SIZE - block.count(absent) >= DENSE_FROM:
                    return True
        return False

    def _new_block(self, number: int) -> array[int]:
        """Start block ``number``, with the loose ids that belong in it."""
        self._blocks[number] = array("i", [_ABSENT_32]) * BLOCK_SIZE
        moving = _ids_of_block(number, self._loose)
        versions = [self._loose.pop(i) for i in moving]
        self._grouping.count -= len(moving)  # counted again as the block keeps them
        self.keep_newer(moving, versions)
        return self._blocks[number]  # widened, maybe


def _widened(block: array[int]) -> array[int]:
    """A 4-byte block as an 8-byte one (microseconds)."""
    return array(
        "q",
        (
            _ABSENT_64
            if value == _ABSENT_32
            else (value + _SECONDS_BASE) * _MICROSECONDS
            for value in block
        ),
    )
