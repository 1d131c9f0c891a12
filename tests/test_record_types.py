"""JSON Schema bounds become msgspec constraints: decoding checks them."""

from __future__ import annotations

import json
import typing as t

import msgspec
import pytest

from tap_reviewrover.record_types import field_type, integer_bounds, number_bounds


@pytest.mark.parametrize(
    ("schema", "bounds"),
    [
        ({}, (-(2**63), 2**63 - 1)),
        ({"minimum": 1}, (1, 2**63 - 1)),
        ({"maximum": 2**70}, (-(2**63), 2**63 - 1)),  # never beyond 64 bits
        ({"minimum": -(2**70), "maximum": 100}, (-(2**63), 100)),
        ({"exclusiveMinimum": 0, "exclusiveMaximum": 10}, (1, 9)),
        ({"minimum": 0.5, "maximum": 9.5}, (1, 9)),
        ({"exclusiveMinimum": 0.5, "exclusiveMaximum": 9.5}, (1, 9)),
        ({"minimum": 5, "exclusiveMinimum": 5}, (6, 2**63 - 1)),
        ({"minimum": 5, "exclusiveMinimum": 2}, (5, 2**63 - 1)),
    ],
)
def test_an_integer_is_bounded_by_its_schema_within_64_bits(
    schema: dict[str, t.Any], bounds: tuple[int, int]
) -> None:
    assert integer_bounds({"type": "integer", **schema}) == bounds


@pytest.mark.parametrize(
    ("schema", "bounds"),
    [
        ({}, {}),
        ({"minimum": 0, "maximum": 1.5}, {"ge": 0, "le": 1.5}),
        ({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, {"gt": 0, "lt": 1}),
        ({"minimum": 0, "exclusiveMinimum": 0}, {"gt": 0}),
        ({"minimum": 1, "exclusiveMinimum": 0}, {"ge": 1}),
        ({"maximum": 1, "exclusiveMaximum": 1}, {"lt": 1}),
        ({"maximum": 0.5, "exclusiveMaximum": 1}, {"le": 0.5}),
    ],
)
def test_a_number_s_bounds_are_the_tighter_of_each_side(
    schema: dict[str, t.Any], bounds: dict[str, float]
) -> None:
    assert number_bounds(schema) == bounds


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True},  # draft 4
        {"type": "number", "maximum": "10"},
    ],
)
def test_a_bound_that_is_no_number_is_refused(schema: dict[str, t.Any]) -> None:
    with pytest.raises(ValueError, match="cannot type a property whose"):
        field_type(schema)


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "integer"}, [0, 2**63 - 1, -(2**63)], [2**63, -(2**63) - 1, 2**64]),
        ({"type": ["integer", "null"], "minimum": 1}, [1, None], [0, -5]),
        ({"type": "number", "exclusiveMaximum": 1}, [0.5, -3], [1, 1.5]),
    ],
)
def test_decoding_checks_the_bounds(
    schema: dict[str, t.Any], good: list[object], bad: list[object]
) -> None:
    decoder = msgspec.json.Decoder(field_type(schema))
    for value in good:
        assert decoder.decode(json.dumps(value).encode()) == value
    for value in bad:
        with pytest.raises(msgspec.ValidationError, match=r"Expected `(int|float)"):
            decoder.decode(json.dumps(value).encode())
