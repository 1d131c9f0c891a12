"""Run the sandbox API until interrupted: `python -m reviewrover_sandbox`.

It prints the URL, the token and a tap config line, e.g.::

    {"api_url": "http://127.0.0.1:8123/api", "auth_token": "sandbox-token"}

With `--data-file`, the enrollments outlive the process: loaded from the file
when it exists (else seeded), saved to it after `--activity` and on shutdown.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import string
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from reviewrover_sandbox.activity import Activity, simulate
from reviewrover_sandbox.ratelimit import TokenBucket
from reviewrover_sandbox.reviews import ReviewStore
from reviewrover_sandbox.server import (
    DEFAULT_REVIEW_COUNT,
    DEFAULT_TOKEN,
    SandboxServer,
)
from reviewrover_sandbox.store import COMPLETED_SHARE, EnrollmentStore
from reviewrover_sandbox.timestamps import Clock

if TYPE_CHECKING:
    from types import FrameType

DEFAULT_RATE_BURST = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reviewrover-sandbox",
        description="Serve a local sandbox of the ReviewRover Enrollments API.",
    )
    parser.add_argument("--count", type=int, default=1000, help="records to seed")
    parser.add_argument(
        "--reviews",
        type=int,
        default=DEFAULT_REVIEW_COUNT,
        metavar="N",
        help=f"reviews to seed (default {DEFAULT_REVIEW_COUNT})",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data")
    parser.add_argument(
        "--completed-share",
        type=float,
        default=COMPLETED_SHARE,
        metavar="SHARE",
        help="share of seeded enrollments that are completed, 0 to 1 "
        "(default %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to every request"
    )
    parser.add_argument(
        "--clock-offset-seconds",
        type=float,
        default=0.0,
        help="how far the API clock is ahead of (or, negative, behind) real time",
    )
    parser.add_argument(
        "--ready-file", type=Path, help="write the URL to this file once serving"
    )
    parser.add_argument(
        "--activity",
        type=int,
        default=0,
        metavar="N",
        help=(
            "before serving, update N enrollments and create N/5 new ones, as if "
            "the account was used since the last sync (for demos; chosen from "
            "--seed and the number of enrollments, so the same on every machine)"
        ),
    )
    parser.add_argument(
        "--hours-of-activity",
        type=int,
        default=0,
        metavar="N",
        help=(
            "before serving, make N hours of a busy account's changes (creates, "
            "edits, completions, reopens, edits of completed enrollments, "
            "deletes), drawn from --activity-seed"
        ),
    )
    parser.add_argument(
        "--activity-seed",
        type=int,
        default=1,
        help="random seed of --hours-of-activity (default %(default)s)",
    )
    parser.add_argument(
        "--data-file",
        type=Path,
        metavar="PATH",
        help=(
            "load the enrollments from this JSON file if it exists (else seed "
            "them), and save them there after --activity and on shutdown"
        ),
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="answer list requests over this rate with 429 (a token bucket)",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=DEFAULT_RATE_BURST,
        metavar="N",
        help="requests the rate limit lets through at once (default %(default)s)",
    )
    parser.add_argument(
        "--rate-limit-headers",
        action="store_true",
        help="send RateLimit-* and X-RateLimit-* headers with list responses",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def load_or_seed(
    data_file: Path | None,
    *,
    count: int,
    seed: int,
    clock: Clock,
    completed_share: float = COMPLETED_SHARE,
) -> EnrollmentStore:
    """Load the enrollments from `data_file` if it exists, else seed them.

    Args:
        data_file: The saved data, or None to always seed.
        count: Enrollments to seed.
        seed: Random seed of the seeded data.
        clock: The API clock.
        completed_share: Share of seeded enrollments that are completed.

    Returns:
        The store.
    """
    if data_file is not None and data_file.exists():
        return EnrollmentStore.load(data_file, clock=clock)
    return EnrollmentStore.seeded(
        count, seed=seed, clock=clock, completed_share=completed_share
    )


def _rate_limit(args: argparse.Namespace) -> TokenBucket | None:
    if args.rate_limit is None:
        return None
    return TokenBucket(
        args.rate_limit, args.rate_burst, headers=args.rate_limit_headers
    )


def main(argv: list[str] | None = None) -> int:
    """Seed, serve and print connection details until SIGINT or SIGTERM.

    Must run in the main thread (it installs signal handlers).

    Args:
        argv: Command-line arguments; `sys.argv[1:]` by default.

    Returns:
        The exit status, 0 after a clean shutdown.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rate_limit is not None and (args.rate_limit <= 0 or args.rate_burst < 1):
        parser.error("--rate-limit must be more than 0 and --rate-burst at least 1")
    if not 0 <= args.completed_share <= 1:
        parser.error("--completed-share must be between 0 and 1")
    clock = Clock(args.clock_offset_seconds)
    store = load_or_seed(
        args.data_file,
        count=args.count,
        seed=args.seed,
        clock=clock,
        completed_share=args.completed_share,
    )
    server = SandboxServer(
        store,
        reviews=ReviewStore.seeded(args.reviews, seed=args.seed, clock=clock),
        rate_limit=_rate_limit(args),
        token=args.token,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    server.faults.latency_seconds = args.latency_ms / 1000
    # Seeded by the seed and the data so far: each start sees other activity, and
    # the same on every machine (the quickstart's printed counts are its own).
    activity_seed = f"{args.seed}:{len(store)}"
    simulate_activity(store, args.activity, random.Random(activity_seed))  # noqa: S311 - demo data
    activity_rng = random.Random(args.activity_seed)  # noqa: S311 - test data
    for _ in range(args.hours_of_activity):
        simulate(store, Activity(), activity_rng)
    if args.data_file is not None:
        store.save(args.data_file)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop_requested.set()

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with server:
            config = {"api_url": server.url, "auth_token": server.token}
            sys.stdout.write(
                f"ReviewRover sandbox: {len(store)} enrollments at {server.url}\n"
                f"Token: {server.token}\n"
                f"{json.dumps(config)}\n"
            )
            sys.stdout.flush()
            if args.ready_file:
                args.ready_file.write_text(server.url + "\n")
            stop_requested.wait()
        if args.data_file is not None:
            store.save(args.data_file)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def simulate_activity(store: EnrollmentStore, count: int, rng: random.Random) -> None:
    """Update ``count`` random enrollments and create ``count // 5`` new ones, now.

    Args:
        store: The data to change.
        count: How many enrollments to update.
        rng: The source of randomness.
    """
    records = store.all_records()
    if count <= 0 or not records:
        return
    for record in rng.sample(records, min(count, len(records))):
        store.update(record["id"], completed=not record["completed"])
    campaigns = sorted({record["campaign_id"] for record in records})
    for _ in range(count // 5):
        contact = "cont_" + "".join(rng.choices(string.ascii_letters, k=17))
        store.create(rng.choice(campaigns), contact)


if __name__ == "__main__":
    sys.exit(main())
