"""Issue 15's bar, at its size: 200,000 enrollments, 5 % open, an hour of use.

The narrow sync takes at most a quarter of the full scan's requests (counted at
the sandbox) and emits every changed enrollment but the edits and deletions of
completed ones; the next sync with ``full_scan_every_hours: 0`` emits those
edits too. Pages of 100, four requests at a time, as users run it; each sync
runs as a user's would (``tap-reviewrover --config ... --state ...``).
"""

from __future__ import annotations

import json
import subprocess
import typing as t
from dataclasses import dataclass

import pytest

from tests.conftest import clean_env, tap_command
from tests.open_account import Account, account_of, summary_of, walks

if t.TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterator
    from pathlib import Path

COUNT = 200_000


@dataclass
class Run:
    """What one command-line sync emitted (ids only), its state and its log."""

    ids: list[int]
    state: dict[str, t.Any]
    stderr: str
    requests: Counter[str]


@pytest.fixture
def account() -> Iterator[Account]:
    yield from account_of(COUNT, 0.05)


def run(
    account: Account, tmp_path: Path, state: dict[str, t.Any] | None, **settings: t.Any
) -> Run:
    """Sync from the command line, keeping ids and the last STATE, not records."""
    config = account.config(page_size=100, max_concurrent_requests=4, **settings)
    (tmp_path / "config.json").write_text(json.dumps(config))
    arguments = ["--config", str(tmp_path / "config.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        arguments += ["--state", str(tmp_path / "state.json")]
    before = len(account.sandbox.requests)
    ids: list[int] = []
    last_state: dict[str, t.Any] = {}
    with subprocess.Popen(
        tap_command(*arguments),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        for line in process.stdout:
            if line.startswith('{"type":"RECORD"'):
                ids.append(json.loads(line)["record"]["id"])
            elif line.startswith('{"type":"STATE"'):
                last_state = json.loads(line)["value"]
        stderr = process.stderr.read()
    assert process.returncode == 0, stderr[-3000:]
    return Run(ids, last_state, stderr, walks(account.sandbox, before))


def test_an_hour_at_200k_with_5_percent_open(account: Account, tmp_path: Path) -> None:
    account.at(30)
    first = run(account, tmp_path, None)
    assert len(first.ids) == COUNT
    account.at(20)
    log = account.use()  # 300 created, 150 completed, 10 completed ones edited...
    account.at(10)
    narrow = run(account, tmp_path, first.state)
    full_scan = run(account, tmp_path, first.state, incremental_strategy="full_scan")

    narrow_requests = sum(narrow.requests.values())
    full_requests = sum(full_scan.requests.values())
    assert narrow_requests <= 0.25 * full_requests, (narrow.requests, full_requests)
    missed = log.changed_while_completed
    assert sorted(narrow.ids) == sorted(log.changed - missed)
    assert sorted(full_scan.ids) == sorted(log.changed)
    assert not missed & set(narrow.ids)

    account.at(0)
    full_walk = run(account, tmp_path, narrow.state, full_scan_every_hours=0)
    assert missed <= set(full_walk.ids)
    summary = summary_of(full_walk.stderr)
    assert f"{len(missed)} edits of completed enrollments a narrow walk would miss" in (
        summary
    )
