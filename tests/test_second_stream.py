"""A second paged ReviewRover list, declared in a few lines, gets everything.

The sandbox serves ``GET /v1/reviews``: newest *submitted* first, edited later.
The stream below only declares what differs from enrollments (its keys and its
schema); the walk, its checks, the filter, the bookmark and the kill safety come
from ``ReviewRoverStream``, and the tests here show they do.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import typing as t

import pytest
from reviewrover_sandbox import Fault
from singer_sdk import typing as th
from typing_extensions import override

from tap_reviewrover.client import ReviewRoverStream
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import clean_env, parse_messages, sync, tap_config


class ReviewsStream(ReviewRoverStream):
    """Reviews: what contacts wrote, newest submitted first."""

    name = "reviews"
    path = "/v1/reviews"
    records_key = "reviews"
    created_key = "submitted_at"
    replication_key = "edited_at"
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("contact_id", th.StringType),
        th.Property("rating", th.IntegerType),
        th.Property("body", th.StringType),
        th.Property("submitted_at", th.DateTimeType, required=True),
        th.Property("edited_at", th.DateTimeType, required=True),
    ).to_dict()


class TapWithReviews(TapReviewRover):
    """The tap, reading reviews instead of enrollments."""

    @override
    def discover_streams(self) -> list[ReviewRoverStream]:  # type: ignore[override]
        return [ReviewsStream(self)]


if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

    from tests.conftest import SyncOutput

pytestmark = pytest.mark.usefixtures("each_mode")


def sync_reviews(
    sandbox: SandboxServer, state: dict[str, t.Any] | None = None
) -> SyncOutput:
    return sync(tap_config(sandbox), state=state, tap_class=TapWithReviews)


def test_a_full_sync_emits_every_review_as_the_api_has_it(
    sandbox: SandboxServer,
) -> None:
    output = sync_reviews(sandbox)
    assert output.records == sandbox.reviews.all_records()
    assert output.messages[0]["stream"] == "reviews"
    assert output.messages[0]["bookmark_properties"] == ["edited_at"]
    assert output.bookmark_of("reviews") is not None


def test_the_next_sync_emits_only_edited_and_new_reviews(
    sandbox: SandboxServer,
) -> None:
    first = sync_reviews(sandbox)
    edited = sandbox.reviews.ids_in_api_order()[::20]
    for review_id in edited:
        sandbox.reviews.update(review_id, rating=1)
    created = sandbox.reviews.create("cont_new", 5, "Great")
    second = sync_reviews(sandbox, first.final_state)
    assert sorted(second.ids) == sorted([*edited, created["id"]])


def test_an_edit_during_a_sync_to_a_page_already_read_is_in_the_next_sync(
    sandbox: SandboxServer,
) -> None:
    on_page_one = sandbox.reviews.ids_in_api_order()[0]

    def edit_once_page_two_is_asked_for(page: int, _: int) -> None:
        if page == 2:
            sandbox.reviews.update(on_page_one, rating=2)

    sandbox.on_list_request(edit_once_page_two_is_asked_for, path="reviews")
    during = sync_reviews(sandbox)
    after = sync_reviews(sandbox, during.final_state)
    assert {r["id"]: r["rating"] for r in after.records}[on_page_one] == 2


def test_deletions_and_insertions_during_a_sync_never_skip_or_repeat_a_review(
    sandbox: SandboxServer,
) -> None:
    order = sandbox.reviews.ids_in_api_order()
    deleted = order[2:5]

    def churn(page: int, request_number: int) -> None:
        if page == 2 and deleted[0] in sandbox.reviews.ids_in_api_order():
            for review_id in deleted:
                sandbox.reviews.delete(review_id)
        if page > 1:
            sandbox.reviews.create(f"cont_{request_number}", 4, "Fine")

    sandbox.on_list_request(churn, path="reviews")
    output = sync_reviews(sandbox)
    assert set(order) - set(deleted) <= set(output.ids)
    assert len(output.ids) == len(set(output.ids))


def test_a_lie_about_the_reviews_list_stops_the_sync(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault.short(3), page=2, path="reviews", times=None)
    with pytest.raises(Exception, match="page 2 holds 3 records") as caught:
        sync_reviews(sandbox)
    assert "reviews list" in str(caught.value)


def test_a_killed_reviews_sync_resumed_from_its_state_loses_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    first = sync_reviews(sandbox)
    edited = sandbox.reviews.ids_in_api_order()[::9]
    for review_id in edited:
        sandbox.reviews.update(review_id, rating=3)
    reached, release = threading.Event(), threading.Event()

    def hold_page_four(page: int, _: int) -> None:
        if page == 4 and not release.is_set():
            reached.set()
            release.wait(timeout=60)

    sandbox.on_list_request(hold_page_four, path="reviews")
    (tmp_path / "config.json").write_text(json.dumps(tap_config(sandbox)))
    (tmp_path / "state.json").write_text(json.dumps(first.final_state))
    code = "from tests.test_second_stream import TapWithReviews; TapWithReviews.cli()"
    command = [sys.executable, "-c", code, "--config", str(tmp_path / "config.json")]
    with subprocess.Popen(
        [*command, "--state", str(tmp_path / "state.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    ) as tap:
        try:
            assert reached.wait(timeout=60)
            tap.send_signal(signal.SIGKILL)
            stdout, _ = tap.communicate(timeout=60)
        finally:
            release.set()
    messages = parse_messages(stdout[: stdout.rfind("\n") + 1])
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[-1] == first.final_state
    resumed = sync_reviews(sandbox, states[-1])
    assert set(edited) <= set(resumed.ids)
