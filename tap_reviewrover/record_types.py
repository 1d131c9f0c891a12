"""Record types from a JSON Schema: decoding into them checks each record.

:func:`record_type` turns a stream's schema into a :class:`msgspec.Struct`, one
field per property, each typed so that msgspec checks it as it decodes: ``id`` an
integer that fits in 64 bits, ``completed`` a boolean, timestamps RFC 3339 with an
offset, required properties present and not null.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: An RFC 3339 timestamp with its offset.
Timestamp = t.Annotated[dt.datetime, msgspec.Meta(tz=True)]
#: The integers a warehouse's integer column holds: PostgreSQL's, DuckDB's and
#: Redshift's BIGINT, BigQuery's INT64. A larger one would fail the whole load.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


#: JSON Schema's bounds and the :class:`msgspec.Meta` constraint of each.
_BOUNDS = {
    "minimum": "ge",
    "exclusiveMinimum": "gt",
    "maximum": "le",
    "exclusiveMaximum": "lt",
}

_JSON_TYPES: dict[str, t.Any] = {
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[t.Any],
    "object": dict[str, t.Any],
}


def field_type(schema: Mapping[str, t.Any]) -> t.Any:  # noqa: ANN401 - a type
    """The Python type that checks one property of a JSON Schema.

    Args:
        schema: The property's schema, such as ``{"type": ["string", "null"],
            "format": "date-time"}``.

    Returns:
        ``int``, ``str``, ``bool``, an aware datetime... and ``| None`` when the
        schema allows null.

    Raises:
        ValueError: If the schema's type is not one this module knows.
    """
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    kinds = [kind for kind in types if kind != "null"]
    if len(kinds) != 1:
        msg = f"cannot type a property of type {types!r}"
        raise ValueError(msg)
    (kind,) = kinds
    if kind == "string":
        python: t.Any = Timestamp if schema.get("format") == "date-time" else str
    elif kind == "integer":
        low, high = integer_bounds(schema)
        python = t.Annotated[int, msgspec.Meta(ge=low, le=high)]
    elif kind in _JSON_TYPES:
        python = _JSON_TYPES[kind]
        if kind == "number" and (bounds := number_bounds(schema)):
            meta: t.Any = msgspec.Meta  # its overloads cannot take a dict
            python = t.Annotated[python, meta(**bounds)]
    else:
        msg = f"cannot type a property of type {kind!r}"
        raise ValueError(msg)
    return python | None if "null" in types else python


def number_bounds(schema: Mapping[str, t.Any]) -> dict[str, float]:
    """A JSON Schema number's bounds, as :class:`msgspec.Meta` constraints.

    Args:
        schema: The property's schema.

    Returns:
        ``ge``, ``gt``, ``le``, ``lt`` from ``minimum``, ``exclusiveMinimum``,
        ``maximum``, ``exclusiveMaximum`` (of each side, the tighter one).

    Raises:
        ValueError: If a bound is not a number (draft 4's ``true`` included).
    """
    bounds: dict[str, float] = {}
    for keyword, constraint in _BOUNDS.items():
        value = schema.get(keyword)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"cannot type a property whose {keyword} is {value!r}"
            raise ValueError(msg)  # noqa: TRY004 - a bad schema, not a bad call
        bounds[constraint] = value
    for inclusive, exclusive, tighter in (("ge", "gt", max), ("le", "lt", min)):
        if inclusive in bounds and exclusive in bounds:  # msgspec takes one
            keep = tighter(exclusive, inclusive, key=bounds.__getitem__)
            del bounds[inclusive if keep == exclusive else exclusive]
    return bounds


def integer_bounds(schema: Mapping[str, t.Any]) -> tuple[int, int]:
    """A JSON Schema integer's bounds, within what every warehouse holds.

    An integer is always kept to 64 bits (:data:`INT64_MAX`): decoding says so,
    the SCHEMA message does not (given a ``maximum``, target-duckdb remakes the
    ``id`` column of a table it made without one, and the load fails). The
    schema's own bounds narrow the range.

    Args:
        schema: The property's schema.

    Returns:
        The least and the greatest integer allowed.
    """
    low, high = INT64_MIN, INT64_MAX
    for constraint, value in number_bounds(schema).items():
        if constraint == "ge":
            low = max(low, math.ceil(value))
        elif constraint == "gt":
            low = max(low, math.floor(value) + 1)
        elif constraint == "le":
            high = min(high, math.floor(value))
        else:
            high = min(high, math.ceil(value) - 1)
    return low, high


def record_type(
    name: str,
    schema: Mapping[str, t.Any],
    *,
    forbid_unknown_fields: bool,
) -> type[msgspec.Struct]:
    """A Struct with one field per property of the schema, in its order.

    A property listed in ``required`` must be present and not null; any other
    one may be missing (it is then null).

    Args:
        name: The Struct's name.
        schema: The stream's JSON Schema (an object with ``properties``).
        forbid_unknown_fields: Whether a field the schema lacks is an error (it is
            otherwise left out).

    Returns:
        The Struct type.
    """
    required = set(schema.get("required", []))
    fields: list[tuple[str, t.Any] | tuple[str, t.Any, t.Any]] = []
    for field, property_schema in schema["properties"].items():
        python = field_type(property_schema)
        if field in required:
            fields.append((field, _without_none(python)))
        else:
            fields.append((field, python | None, None))
    return msgspec.defstruct(
        name,
        fields,
        forbid_unknown_fields=forbid_unknown_fields,
        kw_only=True,
    )


def _without_none(python: t.Any) -> t.Any:  # noqa: ANN401 - a type
    args = [arg for arg in t.get_args(python) if arg is not type(None)]
    if t.get_origin(python) in {t.Union, type(int | None)} and len(args) == 1:
        return args[0]
    return python
