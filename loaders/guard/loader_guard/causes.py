"""Why a loader failed, in one line: from the end of its output and its settings.

Pure functions; ``loader_guard.run`` calls them once the loader has exited.
The line names what an on-call engineer acts on: a warehouse that cannot be
reached (and where it was looked for), a login it refused, a full disk; else the
loader's own last error.
"""

from __future__ import annotations

import json
import re
import signal
import typing as t
from urllib.parse import urlsplit

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: Default ports of the warehouses whose settings name a host but no port.
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "snowflake": 443}
#: What each failure looks like in a loader's output (psycopg, libpq, the
#: Snowflake connector, Python's OSError texts), each pattern tried in turn: the
#: first that matches is quoted. A full disk or a refused login often comes wrapped
#: in a "connection ... failed", so those are tried before an unreachable server.
DISK_FULL = (
    re.compile(r"(?i)no space left on device"),
    re.compile(r"(?i)could not extend file|disk quota exceeded"),
    re.compile(
        r"\bdisk ?full\b|not enough space on the disk|\[errno 28\]", re.IGNORECASE
    ),
)
LOGIN_REFUSED = (
    re.compile(
        r"password authentication failed(?: for user \"[^\"]*\")?", re.IGNORECASE
    ),
    re.compile(r"(?i)no pg_hba\.conf entry for host \"[^\"]*\""),
    re.compile(r"(?i)role \"[^\"]*\" does not exist"),
    re.compile(r"(?i)incorrect username or password was specified"),
    re.compile(r"(?i)jwt token is invalid|authentication failed"),
)
UNREACHABLE = (
    re.compile(r"(?i)connection refused"),
    re.compile(r"(?i)could not translate host name \"[^\"]*\""),
    re.compile(
        r"name or service not known|temporary failure in name resolution", re.IGNORECASE
    ),
    re.compile(r"(?i)no route to host|network is unreachable"),
    re.compile(r"(?i)connection timed out|timeout expired"),
    re.compile(r"(?i)could not connect to snowflake backend"),
    re.compile(r"(?i)failed to establish a new connection"),
)
#: The server a libpq message names: `connection to server at "HOST", port PORT`.
SERVER_IN_MESSAGE = re.compile(
    r'server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)'
)
#: The last line of a Python traceback: ``package.SomeError: message``.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Failure)\b.*")


def warehouse_address(config: Mapping[str, t.Any]) -> str | None:
    """Where the loader writes, from its settings: ``host:port``, or a path.

    Args:
        config: The loader's settings (its ``--config`` files, merged).

    Returns:
        The address, or None when the settings do not say.
    """
    url = config.get("sqlalchemy_url")
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        if parts.hostname:
            scheme = parts.scheme.split("+")[0]
            port = parts.port or DEFAULT_PORTS.get(scheme)
            return f"{parts.hostname}:{port}" if port else parts.hostname
    host = config.get("host")
    if isinstance(host, str) and host:
        port = config.get("port") or DEFAULT_PORTS["postgres"]
        return f"{host}:{port}"
    account = config.get("account")
    if isinstance(account, str) and account:
        # Snowflake: the connector dials the account's own host, over HTTPS.
        return f"{account}.snowflakecomputing.com:{DEFAULT_PORTS['snowflake']}"
    for key in ("filepath", "destination_path", "path"):
        value = config.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def readable_lines(output: Iterable[str]) -> list[str]:
    """The loader's lines as text: a structured (JSON) record becomes its message.

    Args:
        output: Lines of the loader's standard error.

    Returns:
        The text of each line, with the messages of any exception it carries.
    """
    lines = []
    for line in output:
        record = structured_record(line)
        if record is None:
            lines.append(line)
            continue
        texts = [str(record.get("message", ""))]
        exception = record.get("exception")
        while isinstance(exception, dict):
            texts.append(f"{exception.get('type', '')}: {exception.get('message', '')}")
            exception = exception.get("cause") or exception.get("context")
        lines.extend("\n".join(texts).splitlines())
    return lines


def structured_record(line: str) -> dict[str, t.Any] | None:
    """A Singer SDK structured log record, if the line is one."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if isinstance(record, dict) and "level" in record and "message" in record:
        return record
    return None


def cause_of_failure(
    output: Sequence[str], config: Mapping[str, t.Any], returncode: int
) -> str:
    """One line saying why the loader failed.

    Args:
        output: The last lines of the loader's standard error.
        config: The loader's settings.
        returncode: Its exit status (negative: killed by that signal).

    Returns:
        The line, naming the cause and where to look.
    """
    lines = readable_lines(output)
    address = warehouse_address(config)
    for line in reversed(lines):
        if detail := first_match(DISK_FULL, line):
            where = f" into {address}" if address else ""
            return (
                f"Out of disk space while loading{where} ({detail}): free space on "
                "the warehouse (or where the loader writes its batch files), then "
                "run again."
            )
        if detail := first_match(LOGIN_REFUSED, line):
            user = config.get("user") or config.get("username")
            who = f" of user {user!r}" if isinstance(user, str) and user else ""
            where = f" at {address}" if address else ""
            return (
                f"The warehouse{where} refused the login{who} ({detail}): check the "
                "loader's user and password (or key) settings."
            )
        if detail := first_match(UNREACHABLE, line):
            named = SERVER_IN_MESSAGE.search(line)
            if address is None and named is not None:
                address = f"{named['host']}:{named['port']}"
            at = f" at {address}" if address else ""
            return (
                f"Cannot reach the warehouse{at} ({detail}): check that it is up "
                "and that the loader's host and port settings point at it."
            )
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"The loader was killed by {name}{hint}."
    return f"The loader failed (exit status {returncode}): {last_error(lines)}"


def first_match(patterns: Iterable[re.Pattern[str]], line: str) -> str | None:
    """The text of the first pattern that matches ``line``, if any."""
    for pattern in patterns:
        if match := pattern.search(line):
            return match[0]
    return None


def last_error(lines: Sequence[str]) -> str:
    """The loader's own last word on the failure: an exception, else its last line."""
    for line in reversed(lines):
        if match := EXCEPTION_LINE.match(line.strip()):
            return match[0]
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return "it printed nothing"
