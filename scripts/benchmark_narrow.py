"""The narrow walk's benchmark: requests per hourly sync, against the full scan.

``scripts/benchmark.py --narrow`` runs this. For each N x open share it seeds an
in-process sandbox (so that it can change the data between syncs) and runs the
tap as a user would, from the command line:

1. a first sync with ``incremental_strategy: open_enrollments`` (every page: it
   has no open set yet), fifty minutes "ago" on the API's clock;
2. an hour of activity (the issue's: 300 created, 30 of them completed, 300
   edited, 150 completed, 3 reopened, 10 completed ones edited, 5 deleted;
   scaled down below N = 100,000);
3. from the first sync's state, the narrow sync and the full scan, one after
   the other (neither changes the data), half an hour "ago";
4. from the narrow sync's state, a sync with ``full_scan_every_hours: 0``: the
   walk of every page, which emits the edits of completed enrollments.

Requests are counted at the sandbox, by walk; the emitted ids are checked
against what the activity changed. It also reports the size of the state the
narrow sync left and how long reading it takes (the median of five reads).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from reviewrover_sandbox import (
    Activity,
    Clock,
    EnrollmentStore,
    SandboxServer,
    simulate,
)

from tap_reviewrover.open_state import STATE_KEY, OpenState

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from reviewrover_sandbox import ActivityLog

DEFAULT_COUNTS = (100_000, 1_000_000)
DEFAULT_OPEN_SHARES = (0.05, 0.20, 0.55)
#: The issue's acceptance case.
GOAL_COUNT, GOAL_SHARE, GOAL_RATIO = 200_000, 0.05, 0.25
#: Below this N, the hour of activity is scaled down in proportion.
FULL_ACTIVITY_COUNT = 100_000
TOKEN = "bench-narrow-token"  # noqa: S105 - the sandbox's, not a secret
MINUTE = 60
PARSES = 5


@dataclass
class SyncFigures:
    """One sync: requests by walk, what it emitted, its summary line."""

    requests: dict[str, int]
    emitted: int
    seconds: float
    summary: str

    @property
    def total(self) -> int:
        """Every request of the sync."""
        return sum(self.requests.values())


@dataclass
class NarrowCase:
    """One N x open share, and what its syncs cost."""

    count: int
    open_share: float
    open_count: int = 0
    narrow: SyncFigures | None = None
    full_scan: SyncFigures | None = None
    full_walk: SyncFigures | None = None
    state_bytes: int = 0
    parse_ms: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Requests of the narrow sync over the full scan's."""
        assert self.narrow is not None  # noqa: S101 - after the run
        assert self.full_scan is not None  # noqa: S101
        return self.narrow.total / self.full_scan.total

    def as_json(self) -> dict[str, Any]:
        """The case as a JSON-ready dict."""
        return {**asdict(self), "ratio": self.ratio}


def _sync(  # noqa: PLR0913 - the tap, what it syncs, and what to keep
    tap: Sequence[str],
    config: dict[str, Any],
    state: dict[str, Any] | None,
    work_dir: Path,
    sandbox: SandboxServer,
    *,
    keep_ids: bool = True,
) -> tuple[SyncFigures, set[int], dict[str, Any]]:
    """Run the tap once; its figures, the ids it emitted, its last state."""
    (work_dir / "narrow-config.json").write_text(json.dumps(config))
    arguments = [*tap, "--config", str(work_dir / "narrow-config.json")]
    if state is not None:
        (work_dir / "narrow-state.json").write_text(json.dumps(state))
        arguments += ["--state", str(work_dir / "narrow-state.json")]
    before = len(sandbox.requests)
    ids: set[int] = set()
    emitted, last_state = 0, {}
    started = time.perf_counter()
    log = work_dir / "narrow-tap.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(  # noqa: S603 - our own tap
            arguments, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=work_dir
        ) as process,
    ):
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        for line in process.stdout:
            if line.startswith('{"type":"RECORD"'):
                emitted += 1
                if keep_ids:
                    ids.add(json.loads(line)["record"]["id"])
            elif line.startswith('{"type":"STATE"'):
                last_state = json.loads(line)["value"]
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        msg = f"the tap failed ({process.returncode}); see {log}"
        raise RuntimeError(msg)
    summary = next(
        (line for line in log.read_text().splitlines() if "done:" in line), ""
    )
    requests: Counter[str] = Counter()
    for request in sandbox.requests[before:]:
        if not request.path.rstrip("/").endswith("/v1/enrollments"):
            requests["single reads"] += 1
        elif request.query.get("completed"):
            requests["open pages"] += 1
        else:
            requests["list pages"] += 1
    return SyncFigures(dict(requests), emitted, seconds, summary), ids, last_state


def run_case(
    case: NarrowCase,
    tap: Sequence[str],
    work_dir: Path,
    settings: dict[str, Any] | None = None,
) -> None:
    """Seed, sync, change, sync again; fill ``case``."""
    _progress(f"narrow: N={case.count:,}, {case.open_share:.0%} open: seeding")
    clock = Clock()
    store = EnrollmentStore.seeded(
        case.count, completed_share=1 - case.open_share, clock=clock
    )
    config = {
        **(settings or {}),
        "auth_token": TOKEN,
        "incremental_strategy": "open_enrollments",
    }
    with SandboxServer(store, token=TOKEN) as sandbox:
        config["api_url"] = sandbox.url
        clock.offset_seconds = -50 * MINUTE
        _, _, first = _sync(tap, config, None, work_dir, sandbox, keep_ids=False)
        clock.offset_seconds = -40 * MINUTE
        scale = min(1.0, case.count / FULL_ACTIVITY_COUNT)
        log = simulate(store, Activity().scaled(scale), random.Random(case.count))  # noqa: S311
        clock.offset_seconds = -30 * MINUTE
        case.narrow, narrow_ids, narrow_state = _sync(
            tap, config, first, work_dir, sandbox
        )
        full_scan = {**config, "incremental_strategy": "full_scan"}
        case.full_scan, full_ids, _ = _sync(tap, full_scan, first, work_dir, sandbox)
        clock.offset_seconds = 0
        every_page = {**config, "full_scan_every_hours": 0}
        case.full_walk, walk_ids, _ = _sync(
            tap, every_page, narrow_state, work_dir, sandbox
        )
        case.open_count = sum(not r["completed"] for r in store.all_records())
    _check(case, log, (narrow_ids, full_ids, walk_ids))
    data = narrow_state["bookmarks"]["enrollments"][STATE_KEY]
    case.state_bytes = len(json.dumps(data))
    timings = []
    for _ in range(PARSES):
        started = time.perf_counter()
        OpenState.parse(data, most=10_000_000)
        timings.append(time.perf_counter() - started)
    case.parse_ms = statistics.median(timings) * 1000
    _progress(
        f"  narrow {case.narrow.total:,} requests {case.narrow.requests}, full scan "
        f"{case.full_scan.total:,}, walk of every page {case.full_walk.total:,}"
    )


def _check(
    case: NarrowCase, log: ActivityLog, ids: tuple[set[int], set[int], set[int]]
) -> None:
    narrow, full, walk = ids
    missed = log.changed_while_completed
    read_every_page = "pages of the whole list" in (case.narrow or _NONE).summary
    expected = log.changed if read_every_page else log.changed - missed
    if narrow != expected:
        case.problems.append(f"the narrow sync emitted {len(narrow)}, not {expected}")
    if full != log.changed:
        case.problems.append("the full scan did not emit exactly what changed")
    if not read_every_page and not missed <= walk:  # else emitted already
        case.problems.append("the walk of every page missed edits of completed ones")


_NONE = SyncFigures({}, 0, 0.0, "")


def table(cases: Sequence[NarrowCase]) -> str:
    """The cases as a Markdown table (requests per hourly sync)."""
    header = (
        "| N | open | narrow sync: requests (list + open + single) | full scan | "
        "narrow / full | walk of every page | requests a day (23 narrow + 1 walk "
        "of all / 24 full scans) | state | read in |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for case in cases:
        narrow, full, walk = case.narrow, case.full_scan, case.full_walk
        assert narrow is not None  # noqa: S101 - after the run
        assert full is not None  # noqa: S101
        assert walk is not None  # noqa: S101
        parts = narrow.requests
        detail = (
            f"{parts.get('list pages', 0)} + {parts.get('open pages', 0)} + "
            f"{parts.get('single reads', 0)}"
        )
        if "pages of the whole list" in narrow.summary:
            detail = "every page (not worth it)"
        day = 23 * narrow.total + walk.total
        lines.append(
            f"| {case.count:,} | {case.open_share:.0%} ({case.open_count:,}) | "
            f"{narrow.total:,} ({detail}) | {full.total:,} | {case.ratio:.2f}x | "
            f"{walk.total:,} | {day:,} / {24 * full.total:,} | "
            f"{case.state_bytes / 1024:,.1f} KB | {case.parse_ms:.1f} ms |"
        )
    return "\n".join(lines)


def main(  # noqa: PLR0913 - the cases, the tap, and its settings
    counts: Sequence[int],
    shares: Sequence[float],
    tap: Sequence[str],
    work_dir: Path,
    *,
    settings: dict[str, Any] | None = None,
    with_goal: bool = True,
) -> tuple[str, dict[str, Any], bool]:
    """Run every case, then the issue's goal case unless it was among them.

    Args:
        counts: Enrollments of each case.
        shares: Open shares of each case.
        tap: The tap's command line.
        work_dir: Where configs and logs go.
        settings: More tap settings (``--tap-setting``).
        with_goal: Also run the issue's goal case, if not among the cases.

    Returns:
        The table, the results as JSON, and whether every run was sound.
    """
    cases = [NarrowCase(count, share) for count in counts for share in shares]
    for case in cases:
        run_case(case, tap, work_dir, settings)
    text = table(cases)
    results: dict[str, Any] = {"cases": [case.as_json() for case in cases]}
    goal = next(
        (c for c in cases if (c.count, c.open_share) == (GOAL_COUNT, GOAL_SHARE)),
        None,
    )
    if goal is None and with_goal:
        goal = NarrowCase(GOAL_COUNT, GOAL_SHARE)
        run_case(goal, tap, work_dir, settings)
    if goal is not None:
        met = goal.ratio <= GOAL_RATIO and not goal.problems
        text += (
            f"\n\nGoal: N={GOAL_COUNT:,}, {GOAL_SHARE:.0%} open, an hour of "
            f"activity: the narrow sync takes {goal.ratio:.2f}x the full scan's "
            f"requests (at most {GOAL_RATIO}x) and emits every change but the edits "
            "of completed enrollments, which the walk of every page then emits: "
            + ("PASS" if met else "FAIL")
        )
        results.update(goal=goal.as_json(), goal_met=met)
    every = cases if goal is None or goal in cases else [*cases, goal]
    problems = [problem for case in every for problem in case.problems]
    if problems:
        text += "\n\nPROBLEMS:\n" + "\n".join(f"  {p}" for p in problems)
    return text, results, not problems


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
