"""Checks on the state a sync starts from (``--state``).

A state file written by another tap, by hand, or cut short is common in real
deployments. What would make the tap resume from a wrong place is refused with a
clear error; what can safely be ignored is dropped with a warning.
"""

from __future__ import annotations

import copy
import json
import typing as t

from tap_reviewrover.errors import InvalidStateError
from tap_reviewrover.timestamps import InvalidTimestampError, parse_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Mapping


def read_state_text(text: str) -> dict[str, t.Any]:
    """Decode a state file.

    Args:
        text: The file's content. Empty means no state.

    Returns:
        The decoded state (not yet checked: see :func:`check_state`).

    Raises:
        InvalidStateError: If the text is not JSON.
    """
    if not text.strip():
        return {}
    try:
        state = json.loads(text)
    except (ValueError, RecursionError) as exc:
        msg = f"The state file is not valid JSON ({exc}). Fix or remove it."
        raise InvalidStateError(msg) from None
    if not isinstance(state, dict):
        msg = (
            "The state file must hold a JSON object like "
            f'{{"bookmarks": {{...}}}}, not a {type(state).__name__}.'
        )
        raise InvalidStateError(msg)
    return state


def check_state(
    state: object,
    replication_keys: Mapping[str, str | None],
) -> tuple[dict[str, t.Any], list[str]]:
    """Check a state before a sync starts from it.

    Args:
        state: The decoded state.
        replication_keys: The tap's streams, each with its replication key.

    Returns:
        The state to use, and warnings about what was dropped from it.

    Raises:
        InvalidStateError: If the state is malformed, or a bookmark for this
            stream is not a timestamp.
    """
    if not isinstance(state, dict):
        msg = f"The state must be a JSON object, not a {type(state).__name__}."
        raise InvalidStateError(msg)
    state = copy.deepcopy(state)
    warnings: list[str] = []
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        if state:
            warnings.append(
                "The state has no 'bookmarks' object; starting as if there were "
                "no state.",
            )
        return {"bookmarks": {}}, warnings
    if not isinstance(bookmarks, dict):
        msg = (
            "The state's 'bookmarks' must be an object keyed by stream name, "
            f"not a {type(bookmarks).__name__}."
        )
        raise InvalidStateError(msg)
    if foreign := sorted(name for name in bookmarks if name not in replication_keys):
        warnings.append(
            f"The state has bookmarks for streams this tap does not have "
            f"({', '.join(foreign)}); they are ignored.",
        )
    for stream_name, replication_key in replication_keys.items():
        stream_state = bookmarks.get(stream_name)
        if stream_state is None:
            continue
        if not isinstance(stream_state, dict):
            msg = (
                f"The state's bookmark for '{stream_name}' must be an object, "
                f"not a {type(stream_state).__name__}."
            )
            raise InvalidStateError(msg)
        where = f"'{stream_name}'"
        warnings.extend(_check_bookmark(stream_state, replication_key, where=where))
        warnings.extend(
            _check_partitions(stream_state.get("partitions"), replication_key, where)
        )
    return state, warnings


def _check_partitions(
    partitions: object, replication_key: str | None, stream: str
) -> list[str]:
    if partitions is None:
        return []
    if not isinstance(partitions, list):
        msg = f"The state's {stream} partitions must be a list."
        raise InvalidStateError(msg)
    warnings: list[str] = []
    for partition in partitions:
        context = partition.get("context") if isinstance(partition, dict) else None
        if not isinstance(partition, dict) or not isinstance(context, dict):
            msg = (
                f"Each of the state's {stream} partitions must be an object with "
                "a 'context' object."
            )
            raise InvalidStateError(msg)
        where = f"{stream} partition {json.dumps(context)}"
        warnings.extend(_check_bookmark(partition, replication_key, where=where))
    return warnings


def _check_bookmark(
    bookmark: dict[str, t.Any], replication_key: str | None, *, where: str
) -> list[str]:
    key = bookmark.get("replication_key")
    value = bookmark.get("replication_key_value")
    if value is None:
        return []
    if key != replication_key:
        bookmark.pop("replication_key", None)
        bookmark.pop("replication_key_value", None)
        warning = (
            f"The state's bookmark for {where} is on {key!r}, not "
            f"{replication_key!r}; it is ignored and the stream starts from "
            "start_date."
        )
        return [warning]
    if not isinstance(value, str) or not _is_timestamp(value):
        msg = (
            f"The state's bookmark for {where} is {value!r}, which is not an "
            "ISO 8601 timestamp (such as 2025-02-17T02:00:34Z). Fix the state, or "
            "run with --full-refresh."
        )
        raise InvalidStateError(msg)
    return []


def _is_timestamp(value: str) -> bool:
    try:
        parse_timestamp(value)
    except InvalidTimestampError:
        return False
    return True
