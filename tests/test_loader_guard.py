"""loader-guard: a loader's failure ends with one line naming the cause.

The rules are pure functions (``loader_guard.causes``), tested on the texts the
real loaders print; the runner is tested as a process around a small loader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest
from loader_guard.causes import cause_of_failure, warehouse_address
from loader_guard.run import Passer, loader_config, passed_on

if t.TYPE_CHECKING:
    from pathlib import Path

POSTGRES = {"host": "db.example.com", "port": 6432, "user": "loader"}
#: What psycopg (through SQLAlchemy and the Singer SDK) prints when nothing listens.
REFUSED = (
    '(psycopg.OperationalError) connection failed: connection to server at "127.0.0.1",'
    " port 1 failed: Connection refused"
)


def sdk_error(message: str, exception: dict[str, t.Any] | None = None) -> str:
    """A Singer SDK target's structured error record."""
    fields = {"exception": exception} if exception else {}
    return json.dumps(
        {
            "level": "error",
            "pid": 1,
            "logger_name": "target-postgres",
            "ts": 0.0,
            "thread_name": "MainThread",
            "app_name": "target-postgres",
            "message": message,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("output", "config", "cause"),
    [
        # Nothing listens: the settings say where the warehouse was looked for.
        (
            [REFUSED, "\tIs the server running on that host and accepting TCP/IP?"],
            POSTGRES,
            "Cannot reach the warehouse at db.example.com:6432 (Connection refused)",
        ),
        # ...or, without settings, the message does.
        ([sdk_error(REFUSED)], {}, "Cannot reach the warehouse at 127.0.0.1:1"),
        (
            [
                (
                    "psycopg.OperationalError: [Errno -2] could not translate host "
                    'name "db.exmaple.com" to address: Name or service not known'
                )
            ],
            {"host": "db.exmaple.com"},
            "Cannot reach the warehouse at db.exmaple.com:5432 (could not translate",
        ),
        (
            [
                (
                    "snowflake.connector.errors.OperationalError: 250001: Could not "
                    "connect to Snowflake backend after 2 attempt(s).Aborting"
                )
            ],
            {"account": "myorg-acct1", "user": "LOADER"},
            "Cannot reach the warehouse at myorg-acct1.snowflakecomputing.com:443",
        ),
        # The login is refused.
        (
            [
                (
                    'connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
                    'password authentication failed for user "loader"'
                )
            ],
            POSTGRES,
            (
                "The warehouse at db.example.com:6432 refused the login of user "
                "'loader' (password authentication failed for user \"loader\")"
            ),
        ),
        (
            ['FATAL:  role "loader" does not exist'],
            POSTGRES,
            "refused the login of user 'loader' (role \"loader\" does not exist)",
        ),
        (
            [
                (
                    "snowflake.connector.errors.DatabaseError: 250001 (08001): Failed "
                    "to connect to DB: myorg-acct1.snowflakecomputing.com:443. "
                    "Incorrect username or password was specified."
                )
            ],
            {"account": "myorg-acct1", "user": "LOADER"},
            "refused the login of user 'LOADER' (Incorrect username or password",
        ),
        # The disk is full: the server's, or where the loader writes.
        (
            [
                sdk_error(
                    '(psycopg.errors.DiskFull) could not extend file "base/16384/'
                    '16385": No space left on device'
                )
            ],
            POSTGRES,
            (
                "Out of disk space while loading into db.example.com:6432 (No space "
                "left on device)"
            ),
        ),
        (
            ["OSError: [Errno 28] No space left on device"],
            {"destination_path": "/data/jsonl"},
            "Out of disk space while loading into /data/jsonl (No space left",
        ),
        # Anything else: the loader's own last error, in one line.
        (
            [
                "Traceback (most recent call last):",
                '  File "x.py", line 1',
                "KeyError: 'id'",
            ],
            POSTGRES,
            "The loader failed (exit status 1): KeyError: 'id'",
        ),
        (
            [sdk_error("Database 'ANALYTICS' does not exist")],
            {},
            "The loader failed (exit status 1): Database 'ANALYTICS' does not exist",
        ),
        ([], {}, "The loader failed (exit status 1): it printed nothing"),
    ],
)
def test_the_cause_is_named_in_one_line(
    output: list[str], config: dict[str, t.Any], cause: str
) -> None:
    line = cause_of_failure(output, config, 1)
    assert cause in line
    assert "\n" not in line


def test_the_most_recent_cause_wins() -> None:
    output = [REFUSED, "retrying", 'FATAL:  role "loader" does not exist']
    assert "refused the login" in cause_of_failure(output, POSTGRES, 1)


def test_a_loader_killed_by_a_signal_says_which() -> None:
    assert cause_of_failure([], {}, -9) == (
        "The loader was killed by SIGKILL (out of memory?)."
    )
    assert cause_of_failure([], {}, -15) == "The loader was killed by SIGTERM."


@pytest.mark.parametrize(
    ("config", "address"),
    [
        ({"host": "db", "port": 5433}, "db:5433"),
        ({"host": "db"}, "db:5432"),
        (
            {"sqlalchemy_url": "postgresql+psycopg://u:p@db.example.com/x"},
            "db.example.com:5432",
        ),
        ({"sqlalchemy_url": "postgresql://u:p@db:6000/x"}, "db:6000"),
        ({"account": "org-acct"}, "org-acct.snowflakecomputing.com:443"),
        ({"filepath": "/data/w.duckdb"}, "/data/w.duckdb"),
        ({}, None),
    ],
)
def test_the_warehouse_address_comes_from_the_settings(
    config: dict[str, t.Any], address: str | None
) -> None:
    assert warehouse_address(config) == address


def test_a_password_in_a_url_is_never_part_of_the_address() -> None:
    address = warehouse_address({"sqlalchemy_url": "postgresql://u:s3cret@db/x"})
    assert address == "db:5432"


def test_an_exceptions_traceback_goes_down_to_debug() -> None:
    exception = {"type": "OperationalError", "message": "boom", "traceback": []}
    record, traceback = map(json.loads, passed_on(sdk_error("boom", exception)))
    assert record["level"] == "error"
    assert record["message"] == "boom"
    assert "exception" not in record
    assert traceback["level"] == "debug"
    assert traceback["exception"] == exception


def test_other_lines_pass_through_unchanged() -> None:
    for line in ("plain text", sdk_error("no exception"), "{not json}"):
        assert passed_on(line) == [line]


def test_a_plain_traceback_goes_down_to_debug_up_to_its_exception_line() -> None:
    passer = Passer()
    lines = [
        "Loading batch",
        "Traceback (most recent call last):",
        '  File "target.py", line 3, in <module>',
        "    raise KeyError",
        "KeyError: 'id'",
        "",
        "During handling of the above exception, another exception occurred:",
        "Traceback (most recent call last):",
        '  File "target.py", line 5, in <module>',
        "OSError: [Errno 28] No space left on device",
        "Closing",
    ]
    written = [passer(line) for line in lines]
    assert written[0] == ["Loading batch"]
    assert written[-1] == ["Closing"]
    assert written[5] == [""]  # between two tracebacks; Meltano drops empty lines
    for (out,) in written[1:5] + written[6:-1]:
        assert json.loads(out)["level"] == "debug"
    assert json.loads(written[4][0])["message"] == "KeyError: 'id'"


def test_the_settings_come_from_every_config_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text('{"host": "a", "port": 1}')
    second.write_text('{"host": "b"}')
    args = ["--config", str(first), "--config", str(second), "--config", "ENV"]
    assert loader_config(args) == {"host": "b", "port": 1}
    assert loader_config(["--config", str(tmp_path / "missing.json")]) == {}


#: A loader that copies its input to its output, complains on stderr and fails.
FAILING_LOADER = (
    "import sys; sys.stdout.write(sys.stdin.read()); "
    "print('Traceback (most recent call last):', file=sys.stderr); "
    "print('OSError: [Errno 111] Connection refused', file=sys.stderr); sys.exit(3)"
)


def guard(
    command: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loader_guard ARGS`` around ``command``."""
    return subprocess.run(
        [sys.executable, "-m", "loader_guard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "LOADER_GUARD_COMMAND": command},
        timeout=60,
        check=False,
    )


def test_the_loader_gets_the_input_and_its_output_and_errors_pass_through(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"host": "127.0.0.1", "port": 1}')
    run = guard(
        f'{sys.executable} -c "{FAILING_LOADER}"',
        "--config",
        str(config),
        stdin='{"type": "STATE", "value": {}}\n',
    )
    assert run.returncode == 3
    assert run.stdout == '{"type": "STATE", "value": {}}\n'
    records = [json.loads(line) for line in run.stderr.splitlines()]
    # The traceback, at DEBUG, then the cause.
    assert [(r["level"], r["message"]) for r in records[:2]] == [
        ("debug", "Traceback (most recent call last):"),
        ("debug", "OSError: [Errno 111] Connection refused"),
    ]
    (record,) = records[2:]
    assert record["level"] == "error"
    assert record["message"].startswith(
        "Cannot reach the warehouse at 127.0.0.1:1 (Connection refused)"
    )


def test_a_loader_that_succeeds_adds_nothing() -> None:
    run = guard(f"{sys.executable} -c \"print('ok')\"")
    assert (run.returncode, run.stdout, run.stderr) == (0, "ok\n", "")


def test_without_a_loader_to_run_it_says_so_in_one_line() -> None:
    for command in ("", "no-such-loader-3f2a"):
        run = guard(command)
        assert run.returncode == 2
        (line,) = run.stderr.splitlines()
        assert "loader-guard cannot start the loader" in json.loads(line)["message"]
