"""Run the sandbox API until interrupted: `python -m reviewrover_sandbox`.

It prints the URL, the token and a tap config line, e.g.::

    {"api_url": "http://127.0.0.1:8123/api", "auth_token": "sandbox-token"}
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

from reviewrover_sandbox.server import DEFAULT_TOKEN, SandboxServer
from reviewrover_sandbox.store import Clock, EnrollmentStore

if TYPE_CHECKING:
    from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reviewrover-sandbox",
        description="Serve a local sandbox of the ReviewRover Enrollments API.",
    )
    parser.add_argument("--count", type=int, default=1000, help="records to seed")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data")
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
            "before serving, update N random enrollments and create N/5 new ones, "
            "as if the account was used since the last sync (for demos)"
        ),
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Seed, serve and print connection details until SIGINT or SIGTERM.

    Must run in the main thread (it installs signal handlers).

    Args:
        argv: Command-line arguments; `sys.argv[1:]` by default.

    Returns:
        The exit status, 0 after a clean shutdown.
    """
    args = _parser().parse_args(argv)
    clock = Clock(args.clock_offset_seconds)
    store = EnrollmentStore.seeded(args.count, seed=args.seed, clock=clock)
    server = SandboxServer(
        store, token=args.token, host=args.host, port=args.port, verbose=args.verbose
    )
    server.faults.latency_seconds = args.latency_ms / 1000
    simulate_activity(store, args.activity, random.Random())  # noqa: S311 - demo data
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
