"""The Meltano SDK's standard tap tests, run against the sandbox."""

from __future__ import annotations

import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore, SandboxServer
from singer_sdk.testing import TapTestRunner, get_tap_test_class

from tap_reviewrover.tap import TapReviewRover
from tests.conftest import TOKEN

if t.TYPE_CHECKING:
    from collections.abc import Iterator

# The SDK builds the test class, and its test list, from a config given at import
# time, before any sandbox runs; this one only has to pass config validation. The
# runner fixture below swaps in the sandbox that the tests really sync from.
PLACEHOLDER_CONFIG = {"api_url": "http://127.0.0.1:9/api", "auth_token": TOKEN}

StandardTests = get_tap_test_class(
    tap_class=TapReviewRover,
    config=PLACEHOLDER_CONFIG,
    parse_env_config=False,
)


class TestTapReviewRover(StandardTests):  # type: ignore[misc, valid-type]
    """The SDK's standard tests, syncing 250 sandbox enrollments."""

    @pytest.fixture(scope="class")
    @classmethod
    def runner(cls) -> Iterator[TapTestRunner]:
        """Sync once from a sandbox that lives as long as the test class."""
        store = EnrollmentStore.seeded(250)
        with SandboxServer(store, token=TOKEN) as sandbox:
            test_runner = TapTestRunner(
                tap_class=TapReviewRover,
                config={"api_url": sandbox.url, "auth_token": TOKEN},
                parse_env_config=False,
            )
            test_runner.sync_all()
            yield test_runner
