"""Ties in a new order on every request, over HTTP: exact data or a clean stop.

The sandbox sorts on ``created_at`` alone and shuffles the records that share a
second on every request, as an API paging with OFFSET over that sort may; its
data has tie groups straddling every page edge. Each seed runs one sync, in each
walk mode and in FULL_TABLE, against the real server: it must end with exactly
the API's ids, or stop with the tap's error having moved no bookmark and sent no
ACTIVATE_VERSION. Never exit 0 short.

The suite runs ``TIE_HTTP_SEEDS`` seeds (10 by default) per mode; set it higher
to run thousands once: ``TIE_HTTP_SEEDS=2000 .venv/bin/pytest
tests/test_ties_over_http.py -n 2``.
"""

from __future__ import annotations

import os
import typing as t

import pytest
from reviewrover_sandbox import EnrollmentStore, SandboxServer, TieGroups

from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.tap import TapReviewRover
from tests.conftest import PAGE_SIZE, TOKEN, attempt_sync, tap_config

SEEDS = int(os.environ.get("TIE_HTTP_SEEDS", "10"))
#: A file to append each run's outcome to, for counting (optional).
REPORT = os.environ.get("TIE_HTTP_REPORT")
MODES = {
    "sequential": {"max_concurrent_requests": 1},
    "concurrent": {"max_concurrent_requests": 4},
    "full-table": {"max_concurrent_requests": 4},
}


def full_table(config: dict[str, t.Any]) -> dict[str, t.Any]:
    catalog = TapReviewRover(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    return catalog


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("seed", range(SEEDS))
def test_ties_in_a_new_order_on_every_request_end_exact_or_stopped(
    seed: int, mode: str
) -> None:
    store = EnrollmentStore.seeded(
        200 + seed % 7 * 23,
        seed=seed,
        ties=TieGroups(share=0.3, largest=2 + seed % 9, page_size=PAGE_SIZE),
    )
    with SandboxServer(store, token=TOKEN) as sandbox:
        sandbox.faults.tie_shuffle_seed = seed
        # Read-ahead in the concurrent modes, whatever the machine's speed.
        sandbox.faults.latency_seconds = 0.006 if mode != "sequential" else 0.0
        config = tap_config(sandbox, **MODES[mode])
        catalog = full_table(config) if mode == "full-table" else None
        output, error = attempt_sync(config, catalog=catalog)
        expected = sorted(store.ids_in_api_order())
    kinds = [message["type"] for message in output.messages]
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as report:  # noqa: PTH123
            outcome = "exact" if error is None else f"stopped: {error}"[:120]
            report.write(f"{mode}\t{outcome}\n")
    if error is None:
        assert sorted(set(output.ids)) == expected  # every id, none missing
        if mode == "full-table":
            assert kinds.count("ACTIVATE_VERSION") == 1
        else:
            assert output.bookmark is not None
        return
    assert isinstance(error, ReviewRoverError), repr(error)
    assert "ACTIVATE_VERSION" not in kinds
    for state in output.states:  # no STATE claims rows that were not emitted
        assert "replication_key_value" not in state["bookmarks"].get("enrollments", {})
