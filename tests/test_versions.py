"""The ACTIVATE_VERSION rules (tap_reviewrover/versions.py), table by table.

Pure functions: no API, no target. What the rules do to a real table is in
``test_activate_version_postgres.py`` and its neighbours.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_reviewrover.versions import (
    STATE_KEY,
    VersionRules,
    activation,
    subset_problem,
)

#: A copy's version, and the default grace (6 h) in seconds.
VERSION = 1_767_225_600
GRACE = 6 * 3600
SETTINGS = {"full_table_max_shrink_percent": 50, "activate_version_grace_hours": 6}


@pytest.mark.parametrize(
    ("copied", "last_copy", "max_shrink", "activated", "problem"),
    [
        pytest.param(95, None, 0.5, True, None, id="first copy"),
        pytest.param(95, {"records": 95}, 0.5, True, None, id="same size"),
        pytest.param(120, {"records": 95}, 0.5, True, None, id="grown"),
        pytest.param(50, {"records": 100}, 0.5, True, None, id="shrunk to the limit"),
        pytest.param(
            49,
            {"records": 100},
            0.5,
            False,
            "holds 49 records, 51 fewer than the 100 of the last whole copy",
            id="shrunk past it",
        ),
        pytest.param(200, {"records": 500}, 0.7, True, None, id="a larger setting"),
        pytest.param(1, {"records": 10**6}, 1, True, None, id="guard off"),
        pytest.param(
            0,
            {"records": 100},
            1,
            False,
            "holds 0 records (the last whole copy had 100 before it)",
            id="empty, guard off",
        ),
        pytest.param(
            0, None, 0.5, False, "(nothing is known of before it)", id="empty first"
        ),
        pytest.param(0, {"records": 0}, 0.5, False, None, id="empty, and was"),
        # A state the tap did not write is no size to keep: as if there were none.
        pytest.param(10, {"records": "500"}, 0.5, True, None, id="records a string"),
        pytest.param(10, {"records": True}, 0.5, True, None, id="records a boolean"),
        pytest.param(10, ["records", 500], 0.5, True, None, id="not an object"),
    ],
)
def test_activation_needs_a_copy_that_did_not_shrink_past_the_setting(
    copied: int,
    last_copy: t.Any,
    max_shrink: float,
    activated: bool,  # noqa: FBT001
    problem: str | None,
) -> None:
    decision = activation(
        stream="enrollments",
        version=VERSION,
        copied=copied,
        last_copy=last_copy,
        max_shrink=max_shrink,
        grace_seconds=GRACE,
    )
    assert decision.version == (VERSION - GRACE if activated else None)
    if problem is None:
        assert decision.problem is None
    else:
        assert decision.problem is not None
        assert decision.problem.startswith("The FULL_TABLE copy of enrollments holds")
        assert problem in decision.problem
        assert "ACTIVATE_VERSION was not sent" in decision.problem


def test_the_activated_version_is_the_copys_less_the_grace() -> None:
    for grace in (0, 1, GRACE, 720 * 3600):
        decision = activation(
            stream="enrollments",
            version=VERSION,
            copied=10,
            last_copy=None,
            max_shrink=0.5,
            grace_seconds=grace,
        )
        assert decision.version == VERSION - grace


@pytest.mark.parametrize(
    ("full_table", "versions_on", "partitions", "refused"),
    [
        (True, True, 2, True),
        (True, True, 0, False),
        (True, False, 2, False),
        (False, True, 2, False),
        (False, False, 0, False),
    ],
)
def test_only_a_copy_of_some_campaigns_that_would_activate_is_refused(
    full_table: bool,  # noqa: FBT001
    versions_on: bool,  # noqa: FBT001
    partitions: int,
    refused: bool,  # noqa: FBT001
) -> None:
    problem = subset_problem(
        full_table=full_table, versions_on=versions_on, partitions=partitions
    )
    assert (problem is not None) == refused


@pytest.mark.parametrize(
    ("settings", "full_table", "batch", "version", "warned"),
    [
        pytest.param({}, True, False, VERSION, False, id="copy"),
        pytest.param({}, False, False, VERSION, False, id="incremental"),
        pytest.param(
            {"emit_activate_version_messages": False},
            True,
            False,
            None,
            False,
            id="versions off",
        ),
        pytest.param({}, True, True, None, True, id="copy in batch mode"),
        pytest.param({}, False, True, None, False, id="incremental in batch mode"),
    ],
)
def test_records_carry_the_syncs_version_unless_versions_are_off_or_batched(
    settings: dict[str, t.Any],
    full_table: bool,  # noqa: FBT001
    batch: bool,  # noqa: FBT001
    version: int | None,
    warned: bool,  # noqa: FBT001
) -> None:
    rules = VersionRules.for_sync(
        settings, full_table=full_table, batch=batch, partitions=0, started_at=VERSION
    )
    assert rules.version == version
    assert (rules.warning is not None) == warned
    assert rules.problem is None


def test_the_state_keeps_a_copy_only_once_it_is_activated() -> None:
    rules = VersionRules.for_sync(
        {}, full_table=True, batch=False, partitions=0, started_at=VERSION
    )
    state: dict[str, t.Any] = {}
    decision = rules.after_copy(state, 500, SETTINGS, stream="enrollments")
    assert decision.version == VERSION - GRACE
    assert state == {STATE_KEY: {"version": VERSION, "records": 500}}

    later = VersionRules.for_sync(
        {}, full_table=True, batch=False, partitions=0, started_at=VERSION + 86_400
    )
    refused = later.after_copy(state, 200, SETTINGS, stream="enrollments")
    assert refused.version is None
    assert refused.problem is not None
    assert state == {STATE_KEY: {"version": VERSION, "records": 500}}

    allowed = {**SETTINGS, "full_table_max_shrink_percent": 70}
    retired = later.after_copy(state, 200, allowed, stream="enrollments")
    assert retired.version == VERSION + 86_400 - GRACE
    assert state == {STATE_KEY: {"version": VERSION + 86_400, "records": 200}}


def test_an_incremental_sync_activates_nothing_and_keeps_no_copy() -> None:
    rules = VersionRules.for_sync(
        {}, full_table=False, batch=False, partitions=0, started_at=VERSION
    )
    state: dict[str, t.Any] = {}
    assert rules.after_copy(state, 0, SETTINGS, stream="enrollments").version is None
    assert rules.after_copy(state, 95, SETTINGS, stream="enrollments").problem is None
    assert state == {}
