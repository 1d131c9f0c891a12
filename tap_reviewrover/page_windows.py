"""Which requests' answers hold given places of the list.

The walk reads a tie group again with a page size and number of its choosing
(:mod:`tap_reviewrover.tie_groups`): page ``n`` of ``limit`` holds the places
``(n - 1) * limit`` to ``n * limit - 1``, so some page of some size holds any
short run of places whole, and one size or another puts a page boundary away
from any two places. Nothing here does I/O.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tap_reviewrover.page_answers import PageKey


def framing_request(low: int, high: int, most: int, usual: int) -> PageKey | None:
    """A request whose answer holds the places ``low`` to ``high`` of the list.

    Args:
        low: The first place (from 0).
        high: The last place.
        most: The largest page size to ask for.
        usual: The walk's page size: no larger one unless none of those does.

    Returns:
        ``(number, limit)`` leaving the most room on both sides (then the
        smallest limit), or None when no page of at most ``most`` holds them.
    """
    smallest = max(1, high - low + 1)
    for sizes in (range(smallest, min(usual, most) + 1), range(usual + 1, most + 1)):
        best: tuple[int, int, int] | None = None
        for limit in sizes:
            number = low // limit + 1
            last = number * limit - 1
            if limit >= smallest and high <= last:
                room = min(low - (number - 1) * limit, last - high)
                if best is None or room > best[0]:
                    best = (room, number, limit)
        if best is not None:
            return (best[1], best[2])
    return None


def rounds_page_size(low: int, high: int, most: int) -> int | None:
    """The largest page size whose pages show both edges of ``low``..``high``.

    Each edge must be seen within one answer: ``low`` on the same page as
    ``low + 1``, and ``high`` on the same page as ``high - 1``.

    Args:
        low: The place of the record before the group (or the group's first).
        high: The place of the record after the group (or the group's last).
        most: The largest page size to ask for.

    Returns:
        The page size, or None when none of 2 to ``most`` does.
    """
    for limit in range(most, 1, -1):
        if (low + 1) % limit and high % limit:
            return limit
    return None
