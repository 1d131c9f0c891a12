"""The private SDK (and backoff) names the tap uses are still there, as they were.

Each test fails with a message that names the entry of ``sdk_compat.py`` to look
at again: an SDK upgrade that renames or changes one of them must not turn into a
silent change of behaviour.
"""

from __future__ import annotations

import inspect
import typing as t

import backoff._common
import backoff._sync
import pytest
from singer_sdk import Tap
from singer_sdk.streams import Stream

from tap_reviewrover import sdk_compat
from tap_reviewrover.client import ReviewRoverStream
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import TOKEN

if t.TYPE_CHECKING:
    from collections.abc import Callable

UPGRADE = "the SDK changed a private name that tap_reviewrover/sdk_compat.py uses: "


def parameters(function: Callable[..., object]) -> list[tuple[str, object]]:
    """A function's parameters: names and kinds."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


P = inspect.Parameter


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        (
            Stream,
            "_increment_stream_state",
            [
                ("self", P.POSITIONAL_OR_KEYWORD),
                ("latest_record", P.POSITIONAL_OR_KEYWORD),
                ("context", P.KEYWORD_ONLY),
            ],
        ),
        (
            Stream,
            "_write_activate_version_message",
            [
                ("self", P.POSITIONAL_OR_KEYWORD),
                ("full_table_version", P.POSITIONAL_OR_KEYWORD),
            ],
        ),
        (
            Tap,
            "_handle_termination",
            [
                ("self", P.POSITIONAL_OR_KEYWORD),
                ("signum", P.POSITIONAL_OR_KEYWORD),
                ("frame", P.POSITIONAL_OR_KEYWORD),
            ],
        ),
    ],
)
def test_private_sdk_methods_keep_their_signature(
    owner: type, name: str, expected: list[tuple[str, object]]
) -> None:
    method = getattr(owner, name, None)
    assert method is not None, UPGRADE + f"{owner.__name__}.{name} is gone"
    assert parameters(method) == expected, (
        UPGRADE + f"{owner.__name__}.{name} takes {parameters(method)}"
    )


def test_the_mixins_override_the_sdk_s_own_methods() -> None:
    # Were the SDK to rename them, the mixins would override nothing.
    assert ReviewRoverStream._increment_stream_state is (
        sdk_compat.NoRecordStateIncrement._increment_stream_state
    )
    assert TapReviewRover._handle_termination is (
        sdk_compat.StopSignalHook._handle_termination
    )
    assert hasattr(Stream, "_increment_stream_state"), UPGRADE + "the state hook"
    assert hasattr(Tap, "_handle_termination"), UPGRADE + "the signal handler"


def test_a_stream_has_its_tap_start_time_and_version() -> None:
    tap = TapReviewRover(
        config={"api_url": "http://127.0.0.1:9/api", "auth_token": TOKEN},
        parse_env_config=False,
    )
    stream = tap.streams["enrollments"]
    assert stream._tap is tap, UPGRADE + "Stream._tap"
    assert isinstance(stream._initialized_at, int), UPGRADE + "Stream._initialized_at"
    assert sdk_compat.sync_version(stream) == tap.initialized_at // 1000
    sdk_compat.set_record_version(stream, 17)
    assert stream._stream_version == 17, UPGRADE + "Stream._stream_version"


def test_backoff_sleeps_and_logs_where_the_tap_expects() -> None:
    assert hasattr(backoff._sync, "time"), UPGRADE + "backoff._sync.time (tests)"
    assert {"_log_backoff", "_log_giveup"} <= set(vars(backoff._common)), (
        UPGRADE + "backoff's log handlers (QuietBackoff)"
    )
    for name in sdk_compat.BACKOFF_LOG_FUNCTIONS:
        assert callable(getattr(backoff._common, name))
