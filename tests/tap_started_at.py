"""The tap's command line, started at a moment the test chooses (a virtual clock).

A table version is the moment its sync started: the SDK's ``initialized_at``, in
seconds (see ``sdk_compat.sync_version``). Tests of syncs that overlap, or of a
copy that starts hours after the last load, need versions in a known order and
far apart, without waiting for them: this runs the tap exactly as
``tap-reviewrover`` does, with ``initialized_at`` taken from
``REVIEWROVER_TEST_STARTED_AT`` (epoch seconds). Nothing else is changed: every
request, and every clock the bookmark rules read, is the real one::

    REVIEWROVER_TEST_STARTED_AT=1767225600 python -m tests.tap_started_at --config ...
"""

from __future__ import annotations

import os

from typing_extensions import override

from tap_reviewrover import cli
from tap_reviewrover.tap import TapReviewRover

#: The environment variable holding the sync's start, in epoch seconds.
STARTED_AT = "REVIEWROVER_TEST_STARTED_AT"


class TapStartedAt(TapReviewRover):
    """The tap, whose sync started when the environment says (if it says)."""

    @property
    @override
    def initialized_at(self) -> int:
        started_at = os.environ.get(STARTED_AT)
        return super().initialized_at if started_at is None else int(started_at) * 1000


if __name__ == "__main__":
    cli.main(TapStartedAt)
