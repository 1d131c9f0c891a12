"""A sync killed at any point (SIGKILL), then run again from its last STATE."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import typing as t
from pathlib import Path

import pytest
from reviewrover_sandbox import EnrollmentStore, SandboxServer

from tap_reviewrover.timestamps import parse_timestamp
from tests.conftest import (
    PAGE_SIZE,
    SEEDED,
    TOKEN,
    clean_env,
    parse_messages,
    sync,
    tap_command,
    tap_config,
)

pytestmark = pytest.mark.usefixtures("each_mode")

LAST_PAGE = -(-SEEDED // PAGE_SIZE)


def run_and_kill_at_page(
    sandbox: SandboxServer,
    tmp_path: Path,
    state: dict[str, t.Any],
    *,
    page: int,
    stop_with: signal.Signals = signal.SIGKILL,
) -> list[dict[str, t.Any]]:
    """Run the tap and send it ``stop_with`` while it waits for ``page``.

    The sandbox holds the request for ``page`` until the tap is dead, so the tap
    has written everything from the pages before it, and nothing after. The
    tap's exit status and stderr land in ``tmp_path`` (``returncode``, ``stderr``).
    """
    reached, release = threading.Event(), threading.Event()

    def hold(requested: int, _: int) -> None:
        if requested == page and not release.is_set():
            reached.set()
            release.wait(timeout=60)

    sandbox.on_list_request(hold)
    (tmp_path / "config.json").write_text(json.dumps(tap_config(sandbox)))
    (tmp_path / "state.json").write_text(json.dumps(state))
    command = tap_command(
        "--config",
        str(tmp_path / "config.json"),
        "--state",
        str(tmp_path / "state.json"),
    )
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as process:
        try:
            assert reached.wait(timeout=60), f"the tap never asked for page {page}"
            process.send_signal(stop_with)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            release.set()
    (tmp_path / "returncode").write_text(str(process.returncode))
    (tmp_path / "stderr").write_text(stderr)
    complete_lines = stdout[: stdout.rfind("\n") + 1]
    return parse_messages(complete_lines)


@pytest.mark.parametrize("page", [1, 2, 5, LAST_PAGE])
def test_a_killed_sync_resumed_from_its_last_state_loses_nothing(
    sandbox: SandboxServer,
    tmp_path: Path,
    page: int,
) -> None:
    config = tap_config(sandbox)
    first = sync(config)
    previous_bookmark = first.bookmark
    assert previous_bookmark is not None

    # Updates since the first sync, on every page, and more while the next runs.
    changed = sandbox.store.ids_in_api_order()[::7]
    for enrollment_id in changed[: len(changed) // 2]:
        sandbox.store.update(enrollment_id, completed=True)

    updated_during_a_sync = threading.Event()

    def update_the_rest_during_the_sync(requested: int, _: int) -> None:
        # Once: during the killed run if it gets that far, else the resumed one.
        if requested == 3 and not updated_during_a_sync.is_set():
            updated_during_a_sync.set()
            for enrollment_id in changed[len(changed) // 2 :]:
                sandbox.store.update(enrollment_id, completed=True)

    sandbox.on_list_request(update_the_rest_during_the_sync)

    killed = run_and_kill_at_page(sandbox, tmp_path, first.final_state, page=page)
    assert (tmp_path / "returncode").read_text() == str(-signal.SIGKILL)
    states = [m["value"] for m in killed if m["type"] == "STATE"]
    assert states, "the tap writes the state it starts from before any record"
    for state in states:
        # No STATE of the killed run claims more than the sync before it did.
        bookmark = state["bookmarks"]["enrollments"].get("replication_key_value")
        assert parse_timestamp(bookmark) <= parse_timestamp(previous_bookmark)

    resumed = sync(config, state=states[-1])
    # Updated before the killed run: the resumed run re-reads them.
    assert set(changed[: len(changed) // 2]) <= set(resumed.ids)
    # Updated while a run reads pages (several at once, maybe): that run or the
    # next one has them.
    following = sync(config, state=resumed.final_state)
    loaded = {m["record"]["id"]: m["record"] for m in killed if m["type"] == "RECORD"}
    for run in (resumed, following):
        loaded.update({record["id"]: record for record in run.records})
    for enrollment_id in changed:
        assert loaded[enrollment_id] == sandbox.store.get(enrollment_id)


def test_a_kill_during_the_first_sync_leaves_no_bookmark(
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    killed = run_and_kill_at_page(sandbox, tmp_path, {}, page=4)
    assert (tmp_path / "returncode").read_text() == str(-signal.SIGKILL)
    ids = [m["record"]["id"] for m in killed if m["type"] == "RECORD"]
    # Records go out in blocks, in page order: the front of the list, at most
    # the pages taken before the kill.
    assert ids == sandbox.store.ids_in_api_order()[: len(ids)]
    assert len(ids) <= 3 * PAGE_SIZE
    states = [m["value"] for m in killed if m["type"] == "STATE"]
    for state in states:
        assert "replication_key_value" not in state["bookmarks"].get("enrollments", {})
    resumed = sync(tap_config(sandbox), state=states[-1] if states else None)
    assert resumed.ids == sandbox.store.ids_in_api_order()


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_sync_exits_non_zero_and_says_so(
    sandbox: SandboxServer,
    tmp_path: Path,
    stop_with: signal.Signals,
) -> None:
    first = sync(tap_config(sandbox))
    stopped = run_and_kill_at_page(
        sandbox, tmp_path, first.final_state, page=4, stop_with=stop_with
    )
    # A stop is no success: an orchestrator must not take it for one.
    stderr = (tmp_path / "stderr").read_text()
    assert (tmp_path / "returncode").read_text() == str(128 + stop_with), stderr[-3000:]
    assert f"Stopped by {stop_with.name} before the sync finished" in stderr
    assert "Traceback" not in stderr
    states = [m["value"] for m in stopped if m["type"] == "STATE"]
    last = states[-1]["bookmarks"]["enrollments"]
    assert last["replication_key_value"] == first.bookmark


def blocked_writing(pid: int) -> bool:
    """Whether the process's main thread waits for room in a full pipe (Linux)."""
    try:
        return "pipe_write" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_target_is_slow_leaves_only_whole_messages(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    # 60 pages of 100: far more than a pipe holds, so the tap blocks writing
    # while nobody reads, and is stopped right then, in the middle of a block.
    store = EnrollmentStore.seeded(6000)
    with SandboxServer(store, token=TOKEN) as sandbox:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(tap_config(sandbox, page_size=100)))
        with subprocess.Popen(
            tap_command("--config", str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        ) as tap:
            deadline = time.monotonic() + 60
            while not blocked_writing(tap.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert blocked_writing(tap.pid), "the tap never blocked on its output"
            tap.send_signal(stop_with)
            stdout, stderr = tap.communicate(timeout=60)
    assert tap.returncode == 128 + stop_with, stderr.decode()[-2000:]
    lines = stdout.decode().split("\n")
    assert lines[-1] == "", "the output ends in the middle of a line"
    messages = [json.loads(line) for line in lines[:-1]]  # each line whole
    ids = [m["record"]["id"] for m in messages if m["type"] == "RECORD"]
    assert len(ids) == len(set(ids)), "a record was written twice"
    assert ids == store.ids_in_api_order()[: len(ids)]
    assert messages[-1]["type"] == "STATE"
    assert "replication_key_value" not in messages[-1]["value"]["bookmarks"].get(
        "enrollments", {}
    )
