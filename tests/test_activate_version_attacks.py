"""Every other way a FULL_TABLE copy might send ACTIVATE_VERSION wrongly.

ACTIVATE_VERSION is a delete: target-postgres retires every row of an older
version. Each test tries one way to make the tap send it after a copy that is
not the whole table (a walk read again from page 1, a stop signal, a failure on
the last page, batch mode, the SDK's own record path, a second stream, a dry
run, settings that narrow an incremental sync), pipes the tap into the real
target-postgres and counts the rows left in PostgreSQL.

Every copy here starts eight hours after the first load (a virtual clock, see
``tests/tap_started_at.py``), so that its ACTIVATE_VERSION, when it is sent,
does retire the rows deleted in the API: a copy that went wrong would show.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import typing as t

import pytest
from reviewrover_sandbox import Fault
from typing_extensions import override

from tap_reviewrover.streams import EnrollmentsStream
from tap_reviewrover.timestamps import parse_timestamp
from tests.conftest import PAGE_SIZE, SEEDED, tap_config
from tests.meltano_project import api_rows, postgres_rows
from tests.postgres_pipes import TIMEOUT_SECONDS, Warehouse
from tests.tap_started_at import TapStartedAt
from tests.test_full_table import full_table_catalog
from tests.test_second_stream import ReviewsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import psycopg
    from reviewrover_sandbox import SandboxServer
    from singer_sdk.streams import Stream

    from tests.meltano_project import Row
    from tests.postgres_pipes import Load

pytestmark = pytest.mark.e2e

#: The first load (2026-01-01T00:00:00Z).
T0 = 1_767_225_600
HOUR = 3600
#: The copy's start: more than the grace (6 h) after the first load.
LATER = T0 + 8 * HOUR
LAST_PAGE = -(-SEEDED // PAGE_SIZE)


class TapWithReviewsToo(TapStartedAt):
    """The tap with a second stream, reviews (``tests/test_second_stream.py``)."""

    @override
    def discover_streams(self) -> list[Stream]:
        return [EnrollmentsStream(self), ReviewsStream(self)]


@pytest.fixture
def warehouse(
    tmp_path: Path, schema: str, postgres: psycopg.Connection[Row]
) -> Iterator[Warehouse]:
    """The test's schema, loaded by target-postgres."""
    warehouse = Warehouse(tmp_path, schema, postgres)
    yield warehouse
    warehouse.close()


def first_load_then_delete(
    sandbox: SandboxServer, warehouse: Warehouse, count: int = 3
) -> set[int]:
    """Load every enrollment, then delete ``count`` of them in the API.

    Returns:
        The deleted ids: rows that a copy's ACTIVATE_VERSION would retire.
    """
    load = warehouse.load(tap_config(sandbox), started_at=T0)
    assert load.target_returncode == 0
    assert warehouse.ids() == set(sandbox.store.ids_in_api_order())
    order = sandbox.store.ids_in_api_order()
    deleted = {order[n * len(order) // count + 1] for n in range(count)}
    for enrollment_id in deleted:
        sandbox.store.delete(enrollment_id)
    return deleted


def kinds(load: Load) -> list[str]:
    """The type of each message the tap wrote, in order."""
    return [message["type"] for message in load.tap.messages]


def retired_nothing(
    sandbox: SandboxServer, warehouse: Warehouse, deleted: set[int]
) -> None:
    """Every row is still in the table, the API's own as the API has them."""
    api = set(sandbox.store.ids_in_api_order())
    assert warehouse.ids() == api | deleted
    rows = postgres_rows(warehouse.connection, warehouse.schema)
    assert [row for row in rows if row[0] in api] == api_rows(sandbox.store)


def activated_once_after_the_last_record(load: Load, version: int) -> None:
    """One ACTIVATE_VERSION, after every record, naming ``version`` less the grace."""
    types = kinds(load)
    assert types.count("ACTIVATE_VERSION") == 1
    last_record = max(i for i, kind in enumerate(types) if kind == "RECORD")
    assert types.index("ACTIVATE_VERSION") > last_record
    (activation,) = load.tap.activations
    assert activation["version"] == version - 6 * HOUR
    versions = {m.get("version") for m in load.tap.messages if m["type"] == "RECORD"}
    assert versions == {version}


def test_a_walk_read_again_from_page_1_retires_only_what_the_api_no_longer_has(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    deleted = first_load_then_delete(sandbox, warehouse)
    # Page 2 answers with page 3's records once: page 3 repeats them, and the
    # walk starts again from page 1, sending what it took before again.
    sandbox.faults.add(Fault.serve_page(3), page=2)
    # Between the two walks, an enrollment the first walk sent is deleted.
    sent_then_deleted = sandbox.store.ids_in_api_order()[0]
    page_one_requests = []

    def delete_on_the_second_walk(page: int, _: int) -> None:
        page_one_requests.extend([page] if page == 1 else [])
        if len(page_one_requests) == 2 and sandbox.store.get(sent_then_deleted):
            sandbox.store.delete(sent_then_deleted)

    sandbox.on_list_request(delete_on_the_second_walk)
    config = tap_config(sandbox)
    copy = warehouse.load(config, catalog=full_table_catalog(config), started_at=LATER)

    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    assert "reading the list again from page 1" in copy.tap.stderr
    assert len(page_one_requests) == 2
    activated_once_after_the_last_record(copy, LATER)
    api = set(sandbox.store.ids_in_api_order())
    # It went out with this copy's version: it leaves at the next copy, not now.
    assert warehouse.ids() == api | {sent_then_deleted}
    assert not deleted & warehouse.ids()
    rows = postgres_rows(warehouse.connection, warehouse.schema)
    assert [row for row in rows if row[0] in api] == api_rows(sandbox.store)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_copy_stopped_by_a_signal_retires_no_row(
    sandbox: SandboxServer, warehouse: Warehouse, signum: signal.Signals
) -> None:
    deleted = first_load_then_delete(sandbox, warehouse)
    reached, release = threading.Event(), threading.Event()

    def hold_the_last_page(page: int, _: int) -> None:
        if page == LAST_PAGE and not release.is_set():
            reached.set()
            release.wait(TIMEOUT_SECONDS)

    sandbox.on_list_request(hold_the_last_page)
    config = tap_config(sandbox)
    target = warehouse.target()
    tap = warehouse.tap(
        config, catalog=full_table_catalog(config), started_at=LATER, target=target
    ).start()
    try:
        assert reached.wait(TIMEOUT_SECONDS), "the tap never asked for the last page"
        tap.signal(signum)
        returncode = tap.wait()
    finally:
        release.set()
    assert target.finish() == 0

    assert returncode == 128 + signum, tap.stderr[-3000:]
    assert "ACTIVATE_VERSION" not in {m["type"] for m in tap.messages}
    assert len(tap.records) <= (LAST_PAGE - 1) * PAGE_SIZE
    assert warehouse.ids() == set(sandbox.store.ids_in_api_order()) | deleted


def test_a_copy_that_fails_on_its_last_page_retires_no_row(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    deleted = first_load_then_delete(sandbox, warehouse)
    sandbox.faults.add(Fault.status(400), page=LAST_PAGE, times=None)
    config = tap_config(sandbox)
    copy = warehouse.load(config, catalog=full_table_catalog(config), started_at=LATER)

    assert copy.tap.returncode == 1
    (line,) = copy.tap.error_lines
    assert f"page={LAST_PAGE}" in line
    assert "ACTIVATE_VERSION" not in kinds(copy)
    assert copy.tap.records, "the pages before the last were loaded"
    assert copy.target_returncode == 0
    retired_nothing(sandbox, warehouse, deleted)


def test_in_batch_mode_a_copy_sends_no_activate_version_and_retires_no_row(
    sandbox: SandboxServer, warehouse: Warehouse, tmp_path: Path
) -> None:
    deleted = first_load_then_delete(sandbox, warehouse)
    batches = tmp_path / "batches"
    batches.mkdir()
    config = tap_config(
        sandbox,
        batch_config={
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": batches.as_uri(), "prefix": "enrollments-"},
        },
    )
    copy = warehouse.load(config, catalog=full_table_catalog(config), started_at=LATER)

    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    assert "BATCH" in kinds(copy)
    assert "ACTIVATE_VERSION" not in kinds(copy)
    assert "ACTIVATE_VERSION is not sent in batch mode" in copy.tap.stderr
    assert copy.target_returncode == 0
    retired_nothing(sandbox, warehouse, deleted)


@pytest.mark.parametrize("path", ["stream maps", "a deselected field"])
def test_on_the_sdks_record_path_a_copy_retires_exactly_the_deleted_rows(
    sandbox: SandboxServer, warehouse: Warehouse, path: str
) -> None:
    deleted = first_load_then_delete(sandbox, warehouse)
    if path == "stream maps":
        config = tap_config(
            sandbox, stream_maps={"enrollments": {"campaign": "campaign_id"}}
        )
        catalog = full_table_catalog(config)
    else:
        config = tap_config(sandbox)
        catalog = full_table_catalog(config)
        for item in catalog["streams"][0]["metadata"]:
            if item["breadcrumb"] == ["properties", "completed"]:
                item["metadata"]["selected"] = False
    copy = warehouse.load(config, catalog=catalog, started_at=LATER)

    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    # The SDK wrote these records, one by one: they show its transformation.
    shown = {"campaign" in r and "completed" in r for r in copy.tap.records}
    assert shown == {path == "stream maps"}
    activated_once_after_the_last_record(copy, LATER)
    api = set(sandbox.store.ids_in_api_order())
    assert warehouse.ids() == api
    assert set(warehouse.versions().values()) == {LATER}
    assert not deleted & warehouse.ids()


def test_a_second_streams_empty_copy_stops_the_sync_and_retires_none_of_its_rows(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    tap_class = f"{__name__}:TapWithReviewsToo"
    config = tap_config(sandbox)
    catalog = TapWithReviewsToo(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    first = warehouse.load(config, catalog=catalog, started_at=T0, tap_class=tap_class)
    assert first.tap.returncode == 0, first.tap.stderr[-3000:]
    reviews = len(sandbox.reviews)
    assert set(first.tap.states[-1]["bookmarks"]) == {"enrollments", "reviews"}
    deleted = {sandbox.store.ids_in_api_order()[5]}
    sandbox.store.delete(next(iter(deleted)))
    for review_id in sandbox.reviews.ids_in_api_order():
        sandbox.reviews.delete(review_id)

    second = warehouse.load(
        config,
        catalog=catalog,
        state=first.tap.states[-1],
        started_at=LATER,
        tap_class=tap_class,
    )

    assert second.tap.returncode == 1
    (line,) = second.tap.error_lines
    assert "reviews" in line
    assert "0 records" in line
    assert f"had {reviews}" in line
    # Enrollments were copied whole before it: their ACTIVATE_VERSION is right.
    assert [m["stream"] for m in second.tap.activations] == ["enrollments"]
    assert warehouse.ids() == set(sandbox.store.ids_in_api_order())
    query = f"select count(*) from {warehouse.schema}.reviews"  # noqa: S608 - own name
    assert warehouse.connection.execute(query).fetchone() == (reviews,)


def test_a_dry_run_of_a_copy_sends_no_activate_version(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    # `--test` syncs one record a stream: a copy of one row.
    deleted = first_load_then_delete(sandbox, warehouse)
    config = tap_config(sandbox)
    dry = warehouse.load(
        config, catalog=full_table_catalog(config), started_at=LATER, args=("--test",)
    )

    assert dry.tap.returncode == 0, dry.tap.stderr[-3000:]
    assert "ACTIVATE_VERSION" not in kinds(dry)
    assert len(dry.tap.records) <= 1
    assert warehouse.ids() == set(sandbox.store.ids_in_api_order()) | deleted


def test_start_date_and_a_bookmark_do_not_narrow_a_copy(
    sandbox: SandboxServer, warehouse: Warehouse
) -> None:
    # The incremental job's state, and a start_date after every update: an
    # incremental sync would emit nothing; a copy must still copy everything.
    first = warehouse.load(tap_config(sandbox), started_at=T0)
    order = sandbox.store.ids_in_api_order()
    for enrollment_id in (order[3], order[70]):
        sandbox.store.delete(enrollment_id)
    latest = max(parse_timestamp(r["updated_at"]) for r in sandbox.store.all_records())
    after_every_update = (latest + dt.timedelta(days=1)).date().isoformat()
    config = tap_config(sandbox, start_date=after_every_update)
    copy = warehouse.load(
        config,
        catalog=full_table_catalog(config),
        state=first.tap.states[-1],
        started_at=LATER,
    )

    assert copy.tap.returncode == 0, copy.tap.stderr[-3000:]
    activated_once_after_the_last_record(copy, LATER)
    assert postgres_rows(warehouse.connection, warehouse.schema) == api_rows(
        sandbox.store
    )
