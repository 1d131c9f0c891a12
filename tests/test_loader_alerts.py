"""End to end: when a loader fails, `meltano run` ends with one line naming why.

Each loader runs behind loader-guard (meltano.yml). These runs fail for real:
PostgreSQL on a port where nothing listens, PostgreSQL refusing a login, and
target-jsonl writing to a full disk (/dev/full). The loader's last line, the last
error before Meltano's own "Loader failed", names the cause; it is the line a
Dagster run's failure quotes (tests/test_orchestration.py).
"""

from __future__ import annotations

import contextlib
import socket
import typing as t

import pytest

from orchestration.meltano_command import LOG_LINE, MeltanoLog
from tests.meltano_project import MeltanoProject, MeltanoRun, postgres_project

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 where nothing listens: bound, never listening."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def error_lines(run: MeltanoRun) -> list[tuple[str, str]]:
    """The ``[error]`` lines of a run: (source, message), in order."""
    found = []
    for line in run.log.splitlines():
        match = LOG_LINE.match(line)
        if match and match["level"] == "error":
            found.append((match["source"], match["message"]))
    return found


def loader_failure(run: MeltanoRun, loader: str) -> str:
    """The loader's last line, checked to be the last error before Meltano's own."""
    assert run.returncode == 1, run.log[-3000:]
    errors = error_lines(run)
    assert errors[-2:] == [
        ("meltano", "Loader failed"),
        ("meltano", "Block run completed"),
    ]
    source, message = errors[-3]
    assert source == loader
    log = MeltanoLog((f"tap-reviewrover {loader}",))
    for line in run.log.splitlines():
        log.add(line)
    assert log.error_line() == f"{loader}: {message}"  # what Dagster quotes
    assert "Traceback" not in run.log  # tracebacks are at DEBUG
    return message


def test_a_warehouse_on_a_closed_port_is_named_with_host_and_port(
    tmp_path: Path, sandbox: SandboxServer, schema: str, closed_port: int
) -> None:
    project = postgres_project(
        tmp_path, sandbox, schema, TARGET_POSTGRES_PORT=str(closed_port)
    )
    run = project.meltano("run", "tap-reviewrover", "target-postgres")
    assert loader_failure(run, "target-postgres") == (
        f"Cannot reach the warehouse at 127.0.0.1:{closed_port} (Connection "
        "refused): check that it is up and that the loader's host and port "
        "settings point at it."
    )


def test_a_refused_login_is_named_with_the_user(
    tmp_path: Path, sandbox: SandboxServer, schema: str
) -> None:
    project = postgres_project(
        tmp_path, sandbox, schema, TARGET_POSTGRES_USER="no_such_loader"
    )
    run = project.meltano("run", "tap-reviewrover", "target-postgres")
    assert loader_failure(run, "target-postgres") == (
        "The warehouse at 127.0.0.1:5432 refused the login of user "
        "'no_such_loader' (role \"no_such_loader\" does not exist): check the "
        "loader's user and password (or key) settings."
    )


def test_a_full_disk_is_named(tmp_path: Path, sandbox: SandboxServer) -> None:
    # Every write to /dev/full fails as on a full disk (ENOSPC).
    destination = tmp_path / "jsonl"
    destination.mkdir()
    (destination / "enrollments.jsonl").symlink_to("/dev/full")
    project = MeltanoProject(
        tmp_path, sandbox, TARGET_JSONL_DESTINATION_PATH=str(destination)
    )
    run = project.meltano("run", "tap-reviewrover", "target-jsonl")
    assert loader_failure(run, "target-jsonl") == (
        f"Out of disk space while loading into {destination} (No space left on "
        "device): free space on the warehouse (or where the loader writes its "
        "batch files), then run again."
    )
