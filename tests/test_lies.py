"""Random lies from the API: every sync ends in exact data or a clean stop.

Each seed builds a sandbox of 0 to 60 enrollments and makes it tell one to three
random lies (short or empty pages, wrong pagination, pages served in place of
others, records out of order or of the wrong type, a clock far off, errors and
dropped connections, a page-size cap), once, twice or for good. The sync, in a
random walk mode and replication method, must then either succeed with exactly
the API's data, or fail with the tap's error, having written no STATE that moves
the bookmark and no ACTIVATE_VERSION. Never a silent loss.

The suite runs ``LIE_SEEDS`` seeds (150 by default); set it higher to run many
thousands once, such as ``LIE_SEEDS=10000 .venv/bin/pytest tests/test_lies.py``.
"""

from __future__ import annotations

import os
import random
import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore, Fault, SandboxServer

from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import TOKEN, SyncOutput, attempt_sync, tap_config

SEEDS = int(os.environ.get("LIE_SEEDS", "150"))
START = "2024-06-01T00:00:00Z"
STATE = {
    "bookmarks": {
        "enrollments": {"replication_key": "updated_at", "replication_key_value": START}
    }
}

Records = list[dict[str, t.Any]]


def random_lie(rng: random.Random, pages: int) -> Fault:
    """One lie the API may tell about a page."""
    page = rng.randint(1, max(1, pages))
    choices: list[t.Callable[[], Fault]] = [
        lambda: Fault.short(rng.randint(0, 9)),
        Fault.empty,
        lambda: Fault.pagination(total_pages=rng.choice([0, 1, pages + 1, 10**9])),
        lambda: Fault.pagination(total=rng.randint(0, 200)),
        lambda: Fault.pagination(page=page + 1),
        lambda: Fault.pagination(limit=rng.choice([5, 25])),
        lambda: Fault.serve_page(page),
        lambda: Fault.records(lambda records: records[::-1]),
        lambda: Fault.records(_mistyped(rng)),
        lambda: Fault.date(rng.choice([-7200, 3600 * 24 * 365 * 76])),
        lambda: Fault.status(rng.choice([500, 502, 503, 429])),
        Fault.drop,
        Fault.truncate,
        Fault.not_json,
    ]
    return rng.choice(choices)()


def _mistyped(rng: random.Random) -> t.Callable[[Records], Records]:
    field, value = rng.choice(
        [
            ("id", "500"),
            ("completed", "yes"),
            ("updated_at", "2024-13-45T99:99:99Z"),
            ("created_at", None),
        ]
    )

    def mistype(records: Records) -> Records:
        if records:
            records[rng.randrange(len(records))][field] = value
        return records

    return mistype


def expected_records(store: EnrollmentStore, *, incremental: bool) -> Records:
    """What a complete sync emits: every record, or those updated since START."""
    records = store.all_records()
    if incremental:
        return [record for record in records if record["updated_at"] >= START]
    return records


def check_clean_stop(output: SyncOutput, *, full: bool) -> None:
    """A failed sync: no STATE moved the bookmark, no version was activated."""
    for state in output.states:
        stream = state.get("bookmarks", {}).get("enrollments", {})
        if full:
            assert "replication_key_value" not in stream, state
        else:
            assert stream.get("replication_key_value") == START, state
    assert [m for m in output.messages if m["type"] == "ACTIVATE_VERSION"] == []


@pytest.mark.parametrize("seed", range(SEEDS))
@pytest.mark.usefixtures("virtual_pacing")
def test_random_lies_end_in_exact_data_or_a_clean_stop(
    seed: int, waits: list[float]
) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    count = rng.randint(0, 60)
    store = EnrollmentStore.seeded(count, seed=seed)
    pages = -(-count // 10)
    full = rng.random() < 0.3
    with SandboxServer(store, token=TOKEN) as sandbox:
        for _ in range(rng.randint(1, 3)):
            times = rng.choice([1, 1, 2, None])
            page = rng.choice([None, rng.randint(1, max(1, pages))])
            sandbox.faults.add(random_lie(rng, pages), times=times, page=page)
        if rng.random() < 0.15:
            sandbox.faults.limit_cap = rng.randint(3, 9)
            sandbox.faults.limit_cap_mode = rng.choice(
                ["declared", "silent", "silent_gaps"]
            )
        config = tap_config(
            sandbox,
            max_concurrent_requests=rng.choice([1, 4]),
            max_retries=2,
        )
        catalog = full_table_catalog(config) if full else None
        state = None if full else STATE
        output, error = attempt_sync(config, state=state, catalog=catalog)
    if error is not None:
        assert isinstance(error, ReviewRoverError), repr(error)
        check_clean_stop(output, full=full)
        return
    loaded = {record["id"]: record for record in output.records}
    expected = expected_records(store, incremental=not full)
    assert loaded == {record["id"]: record for record in expected}
    del waits


def full_table_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """A catalog selecting the stream with FULL_TABLE replication."""
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    return catalog
