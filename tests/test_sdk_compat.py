"""The private SDK names the tap uses are still there, as they were.

Each test fails with a message that names the entry of ``sdk_compat.py`` to look
at again: an SDK upgrade that renames or changes one of them must not turn into a
silent change of behaviour.
"""

from __future__ import annotations

import inspect
import logging
import typing as t

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


def test_the_sdk_still_logs_its_unhandled_error_line_as_the_filter_expects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SDK's Stream.sync logs this line before re-raising; the tap drops it
    # (the error gets its own line). A change of wording would bring it back.
    source = inspect.getsource(Stream.sync)
    assert f'"{sdk_compat.SDK_UNHANDLED_ERROR}"' in source, (
        UPGRADE + "the unhandled-error line of Stream.sync (NoUnhandledErrorLine)"
    )
    logger = logging.getLogger("tap-reviewrover.compat-test")
    sdk_compat.NoUnhandledErrorLine.install(logger)
    sdk_compat.NoUnhandledErrorLine.install(logger)
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.error(sdk_compat.SDK_UNHANDLED_ERROR, "enrollments")
        logger.error("another error")
    assert [r.getMessage() for r in caplog.records] == ["another error"]
