"""The sandbox as an account in use: a share of completed enrollments, and activity.

What the narrow walk (``incremental_strategy: open_enrollments``) is tested and
measured against: seeded data with a chosen share of open enrollments, changes
of every kind drawn from a seed, and faults for ``GET /v1/enrollments/{id}``.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import typing as t
from datetime import datetime, timezone

import pytest
import requests
from reviewrover_sandbox import (
    Activity,
    Clock,
    EnrollmentStore,
    Fault,
    SandboxServer,
    simulate,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "activity-token"  # noqa: S105 - not a secret
TIMEOUT = 10
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SMALL = Activity().scaled(0.1)


def rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data


def fixed_clock() -> Clock:
    return Clock(source=lambda: NOW)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(EnrollmentStore.seeded(300), token=TOKEN) as sandbox:
        yield sandbox


def get_one(sandbox: SandboxServer, enrollment_id: int) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/v1/enrollments/{enrollment_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("share", [0.0, 0.05, 0.55, 1.0])
def test_the_completed_share_changes_completion_and_nothing_else(share: float) -> None:
    default = EnrollmentStore.seeded(4000).all_records()
    shared = EnrollmentStore.seeded(4000, completed_share=share).all_records()
    completed = sum(record["completed"] for record in shared) / len(shared)
    assert abs(completed - share) < 0.03  # a seeded draw of 4000
    without = [{**r, "completed": None} for r in default]
    assert [{**r, "completed": None} for r in shared] == without


def test_the_default_share_is_the_data_every_other_test_was_written_against() -> None:
    default = EnrollmentStore.seeded(500).all_records()
    assert default == EnrollmentStore.seeded(500, completed_share=0.45).all_records()


def test_a_share_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="completed_share"):
        EnrollmentStore.seeded(10, completed_share=1.5)


def test_activity_follows_from_its_seed() -> None:
    stores = [EnrollmentStore.seeded(2000, clock=fixed_clock()) for _ in range(3)]
    logs = [
        simulate(store, SMALL, rng(seed))
        for store, seed in zip(stores, (7, 7, 8), strict=True)
    ]
    assert logs[0] == logs[1]
    assert stores[0].all_records() == stores[1].all_records()
    assert logs[0] != logs[2]


def test_each_kind_of_activity_makes_its_change() -> None:
    store = EnrollmentStore.seeded(2000, clock=fixed_clock())
    before = {record["id"]: record for record in store.all_records()}
    log = simulate(store, SMALL, rng(1))
    after = {record["id"]: record for record in store.all_records()}
    stamp = "2026-03-01T12:00:00Z"

    assert len(log.created) + len(log.created_completed) == SMALL.creates
    for enrollment_id in log.created:
        assert not after[enrollment_id]["completed"]
    for enrollment_id in [*log.created_completed, *log.completed]:
        assert after[enrollment_id]["completed"]
    for enrollment_id in [*log.updated, *log.completed, *log.open_deleted]:
        assert not before[enrollment_id]["completed"]
    for enrollment_id in [*log.reopened, *log.completed_edited]:
        assert before[enrollment_id]["completed"]
    for enrollment_id in log.reopened:
        assert not after[enrollment_id]["completed"]
    for enrollment_id in log.completed_edited:
        assert after[enrollment_id]["completed"]
    for enrollment_id in log.changed:
        assert after[enrollment_id]["updated_at"] == stamp
    assert log.deleted.isdisjoint(after)
    unchanged = set(before) - log.changed - log.deleted
    assert all(after[i] == before[i] for i in unchanged)
    kinds = [
        log.created,
        log.created_completed,
        log.updated,
        log.completed,
        log.reopened,
        log.completed_edited,
        log.open_deleted,
        log.completed_deleted,
    ]
    assert sum(map(len, kinds)) == len(set().union(*kinds))  # one change each


def test_activity_needs_enough_enrollments_of_each_kind() -> None:
    store = EnrollmentStore.seeded(100, completed_share=1.0)
    with pytest.raises(ValueError, match="open"):
        simulate(store, SMALL, rng(1))


def test_a_fault_for_one_enrollment_answers_only_its_retrieve(
    server: SandboxServer,
) -> None:
    server.faults.add(Fault.status(503), path="enrollment", page=5)
    server.faults.add(Fault.status(500))  # any list: never a retrieve
    statuses = [get_one(server, 4).status_code, get_one(server, 5).status_code]
    listed = requests.get(
        f"{server.url}/v1/enrollments",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert [*statuses, get_one(server, 5).status_code] == [200, 503, 200]
    assert listed.status_code == 500


def test_a_retrieve_of_a_deleted_enrollment_is_404(server: SandboxServer) -> None:
    server.store.delete(7)
    response = get_one(server, 7)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Enrollment 7 not found"


def test_the_command_seeds_the_share_and_makes_hours_of_activity() -> None:
    command = [
        sys.executable,
        "-m",
        "reviewrover_sandbox",
        "--count",
        "6000",
        "--completed-share",
        "0.9",
        "--hours-of-activity",
        "1",
        "--activity-seed",
        "4",
        "--token",
        TOKEN,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        config = json.loads(lines[-1])
        try:
            body = requests.get(
                f"{config['api_url']}/v1/enrollments",
                params={"completed": "false", "limit": "1"},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=TIMEOUT,
            ).json()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=TIMEOUT) == 0
    expected = EnrollmentStore.seeded(6000, completed_share=0.9)
    simulate(expected, Activity(), rng(4))
    open_now = sum(not record["completed"] for record in expected.all_records())
    assert lines[0].startswith(f"ReviewRover sandbox: {len(expected)} enrollments")
    assert body["pagination"]["total"] == open_now


def test_a_list_hook_can_hear_the_query(server: SandboxServer) -> None:
    heard: list[tuple[int, int, dict[str, str]]] = []
    server.on_list_request(
        lambda page, number, query: heard.append((page, number, query)),
        with_query=True,
    )
    requests.get(
        f"{server.url}/v1/enrollments",
        params={"completed": "false", "page": "2", "limit": "10"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert heard == [(2, 1, {"completed": "false", "page": "2", "limit": "10"})]


def test_a_retrieve_hook_hears_the_id_and_no_list_request(
    server: SandboxServer,
) -> None:
    heard: list[tuple[int, int]] = []
    server.on_list_request(
        lambda page, number: heard.append((page, number)), path="enrollment"
    )
    get_one(server, 12)
    assert heard == [(12, 0)]
    assert server.list_request_count == 0
