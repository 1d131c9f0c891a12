"""Checks on the state a sync starts from."""

from __future__ import annotations

import pytest

from tap_reviewrover.errors import InvalidStateError
from tap_reviewrover.state import check_state, read_state_text

#: The tap's streams and their replication keys.
STREAMS = {"enrollments": "updated_at"}
BOOKMARK = {
    "replication_key": "updated_at",
    "replication_key_value": "2025-03-01T00:00:00Z",
}


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"bookmarks": {}},
        {"bookmarks": {"enrollments": dict(BOOKMARK)}},
        {
            "bookmarks": {
                "enrollments": {
                    "partitions": [{"context": {"campaign_id": "c1"}, **BOOKMARK}],
                },
            },
        },
    ],
)
def test_good_states_pass_unchanged_and_silently(state: dict[str, object]) -> None:
    checked, warnings = check_state(state, STREAMS)
    assert warnings == []
    assert checked == (state or {"bookmarks": {}})


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        (["bookmarks"], "JSON object"),
        ({"bookmarks": []}, "keyed by stream name"),
        ({"bookmarks": {"enrollments": "2025-01-01"}}, "must be an object"),
        (
            {
                "bookmarks": {
                    "enrollments": {**BOOKMARK, "replication_key_value": "soon"}
                }
            },
            "'soon', which is not an ISO 8601 timestamp",
        ),
        (
            {"bookmarks": {"enrollments": {**BOOKMARK, "replication_key_value": 17}}},
            "17, which is not an ISO 8601 timestamp",
        ),
        ({"bookmarks": {"enrollments": {"partitions": {}}}}, "must be a list"),
        ({"bookmarks": {"enrollments": {"partitions": [{}]}}}, "'context' object"),
        (
            {
                "bookmarks": {
                    "enrollments": {
                        "partitions": [
                            {
                                "context": {"campaign_id": "c1"},
                                **BOOKMARK,
                                "replication_key_value": "02/10/2025",
                            },
                        ],
                    },
                },
            },
            'partition {"campaign_id": "c1"}',
        ),
    ],
)
def test_states_that_would_resume_wrongly_are_clear_errors(
    state: object,
    problem: str,
) -> None:
    with pytest.raises(InvalidStateError, match=problem):
        check_state(state, STREAMS)


def test_a_bookmark_on_another_key_is_dropped_with_a_warning() -> None:
    state = {
        "bookmarks": {
            "enrollments": {"replication_key": "id", "replication_key_value": 12},
        },
    }
    checked, warnings = check_state(state, STREAMS)
    assert checked == {"bookmarks": {"enrollments": {}}}
    assert len(warnings) == 1
    assert "is on 'id', not 'updated_at'" in warnings[0]


def test_bookmarks_of_other_streams_are_kept_but_named() -> None:
    state = {"bookmarks": {"contacts": {"replication_key_value": "x"}}}
    checked, warnings = check_state(state, STREAMS)
    assert checked == state
    assert warnings == [
        (
            "The state has bookmarks for streams this tap does not have (contacts); "
            "they are ignored."
        ),
    ]


def test_a_state_without_bookmarks_is_ignored_with_a_warning() -> None:
    checked, warnings = check_state({"currently_syncing": "x"}, STREAMS)
    assert checked == {"bookmarks": {}}
    assert "no 'bookmarks' object" in warnings[0]


@pytest.mark.parametrize("text", ["", "  \n"])
def test_an_empty_state_file_means_no_state(text: str) -> None:
    assert read_state_text(text) == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [('{"bookmarks": ', "not valid JSON"), ("[1, 2]", "not a list")],
)
def test_a_corrupt_state_file_is_a_clear_error(text: str, problem: str) -> None:
    with pytest.raises(InvalidStateError, match=problem):
        read_state_text(text)
