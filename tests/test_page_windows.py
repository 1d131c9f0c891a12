"""Which request's answer holds given places of the list (pure functions)."""

from __future__ import annotations

import pytest

from tap_reviewrover.page_windows import framing_request, rounds_page_size


def places(number: int, limit: int) -> range:
    """The places (from 0) page ``number`` of ``limit`` holds."""
    return range((number - 1) * limit, number * limit)


@pytest.mark.parametrize(
    ("low", "high", "most", "usual", "expected"),
    [
        (7, 11, 100, 10, (2, 6)),  # places 6-11: a page of 6 within the usual 10
        (0, 3, 100, 10, (1, 4)),  # the list's front: no room before, the least
        (95, 104, 100, 100, (2, 67)),  # across a boundary of 100: 67-133
        (12, 22, 100, 5, (1, 35)),  # wider than the usual 5: up to 100
        (12, 22, 5, 5, None),  # no page of 5 or less holds 11 places
        (99, 100, 2, 2, None),  # nor a page of 2 or less places 99 and 100
        (4, 4, 3, 3, (2, 3)),  # one place
    ],
)
def test_a_framing_request_holds_the_places_asked_for(
    low: int,
    high: int,
    most: int,
    usual: int,
    expected: tuple[int, int] | None,
) -> None:
    request = framing_request(low, high, most, usual)
    assert request == expected
    if request is not None:
        number, limit = request
        assert low in places(number, limit)
        assert high in places(number, limit)
        assert limit <= most


@pytest.mark.parametrize("low", range(0, 300, 7))
@pytest.mark.parametrize("width", [1, 2, 5, 37, 99, 100])
def test_any_run_up_to_the_largest_page_has_a_framing_request_or_rounds(
    low: int, width: int
) -> None:
    high = low + width - 1
    request = framing_request(low, high, 100, 100)
    if request is not None:
        number, limit = request
        assert set(range(low, high + 1)) <= set(places(number, limit))
    else:  # then rounds can show both edges
        size = rounds_page_size(low, high, 100)
        assert size is not None
        assert (low + 1) // size == low // size
        assert (high - 1) // size == high // size


@pytest.mark.parametrize(
    ("low", "high", "most", "expected"),
    [
        (29, 180, 100, 100),  # 29|30 and 179|180 within pages of 100
        (99, 250, 100, 99),  # 99 and 100 split by pages of 100: 99 a page
        (2, 9, 4, 4),
        (3, 6, 4, None),  # 3|4 split at 4, 5|6 at 3, both at 2
        (1, 2, 1, None),  # a page of 1 shows no edge
    ],
)
def test_rounds_use_the_largest_page_that_shows_both_edges(
    low: int, high: int, most: int, expected: int | None
) -> None:
    limit = rounds_page_size(low, high, most)
    assert limit == expected
    if limit is not None:
        assert (low + 1) // limit == low // limit  # low and low + 1 on one page
        assert (high - 1) // limit == high // limit
