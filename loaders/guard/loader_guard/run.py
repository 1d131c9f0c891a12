"""``loader-guard``: run a Singer loader; if it fails, end with one line naming why.

Meltano starts ``loader-guard`` as the loader's executable (meltano.yml), and
the plugin's ``LOADER_GUARD_COMMAND`` names the loader to run, such as
``target-postgres``. The loader gets the same arguments, standard input (the
tap's messages) and standard output (its STATE for Meltano). Its standard error
passes through line by line as it comes, except that a traceback goes one level
down, to DEBUG. When the loader exits non-zero, the last line
is one error record (Singer SDK structured logging, which the plugin declares)
naming the cause: a warehouse it cannot reach (host and port), a login refused,
a full disk, or the loader's own last error. Meltano shows it as the loader's last
line, and the Dagster run's failure quotes it.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from collections import deque
from contextlib import suppress
from pathlib import Path

from loader_guard.causes import cause_of_failure, structured_record

if t.TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

#: The variable naming the loader to run: a command line, such as ``target-postgres``.
COMMAND_VARIABLE = "LOADER_GUARD_COMMAND"
#: Lines of the loader's output kept to tell the cause from (its last words).
TAIL_LINES = 400
#: Signals passed on to the loader. SIGINT is not: a terminal sends it to the
#: whole process group, the loader included.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def record(level: str, message: str) -> str:
    """A log line as the Singer SDK's structured logging writes it.

    Args:
        level: ``error``, ``debug``...
        message: The message.

    Returns:
        One line of JSON.
    """
    return json.dumps(
        {
            "level": level,
            "pid": os.getpid(),
            "logger_name": "loader-guard",
            "ts": time.time(),
            "thread_name": "MainThread",
            "app_name": "loader-guard",
            "message": message,
        }
    )


#: Lines inside a Python traceback that do not end it.
TRACEBACK_CONTINUES = (
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "The above exception was the direct cause",
)


class Passer:
    """What to write for each line of the loader's standard error.

    Tracebacks go one level down, to DEBUG, which Meltano shows only at
    ``--log-level=debug``: a structured record's exception is split off it, and
    a plain-text traceback (a loader without structured logging) is written as
    DEBUG records, up to and including its exception line.
    """

    def __init__(self) -> None:
        """Start outside a traceback."""
        self.in_traceback = False

    def __call__(self, line: str) -> list[str]:
        """The lines to write for ``line``.

        Args:
            line: The line, without its end of line.

        Returns:
            The lines to write.
        """
        parsed = structured_record(line)
        if parsed is not None:
            self.in_traceback = False
            if "exception" not in parsed:
                return [line]
            exception = parsed.pop("exception")
            full = {"level": "debug", "message": "The error, in full:"}
            return [
                json.dumps(parsed),
                json.dumps(parsed | full | {"exception": exception}),
            ]
        if line.startswith(TRACEBACK_CONTINUES):
            self.in_traceback = True
        if not self.in_traceback:
            return [line]
        ends = bool(line) and not line[0].isspace()
        if ends and not line.startswith(TRACEBACK_CONTINUES):
            self.in_traceback = False  # the exception's own line: the last
        return [record("debug", line)]


def passed_on(line: str) -> list[str]:
    """What to write for one line, outside any traceback (see :class:`Passer`)."""
    return Passer()(line)


def loader_config(args: Sequence[str]) -> dict[str, t.Any]:
    """The loader's settings, from its ``--config`` files (the later ones win).

    Args:
        args: The loader's arguments.

    Returns:
        The settings; those of unreadable files are left out.
    """
    config: dict[str, t.Any] = {}
    for flag, value in itertools.pairwise(args):
        if flag != "--config" or value == "ENV":
            continue
        with suppress(OSError, ValueError):
            loaded = json.loads(Path(value).read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                config.update(loaded)
    return config


def loader_command(command_line: str) -> list[str]:
    """The loader's command, its executable found beside this one or on PATH.

    Args:
        command_line: ``LOADER_GUARD_COMMAND``.

    Returns:
        The command.

    Raises:
        LookupError: If no executable of that name exists.
    """
    words = shlex.split(command_line)
    here = Path(sys.executable).parent
    found = shutil.which(words[0], path=os.pathsep.join([str(here), os.defpath]))
    found = found or shutil.which(words[0])
    if found is None:
        msg = f"{COMMAND_VARIABLE} names {words[0]!r}, which is not installed here"
        raise LookupError(msg)
    return [found, *words[1:]]


def write(line: str) -> None:
    """Write one line to standard error at once."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the loader named by ``LOADER_GUARD_COMMAND`` with these arguments.

    Args:
        argv: The loader's arguments; ``sys.argv[1:]`` by default.

    Returns:
        The loader's exit status (128 + N when signal N killed it).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = loader_command(os.environ.get(COMMAND_VARIABLE, "").strip() or "")
    except (LookupError, IndexError, ValueError) as exc:
        problem = exc if isinstance(exc, LookupError) else f"set {COMMAND_VARIABLE}"
        write(record("error", f"loader-guard cannot start the loader: {problem}."))
        return 2
    with subprocess.Popen(  # noqa: S603 - the loader the project names
        [*command, *args], stderr=subprocess.PIPE
    ) as process:

        def pass_signal(signum: int, frame: FrameType | None) -> None:
            del frame
            with suppress(ProcessLookupError):
                process.send_signal(signum)

        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, pass_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        passer = Passer()
        assert process.stderr is not None  # noqa: S101 - stderr=PIPE
        for raw in process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.append(line)
            for out in passer(line):
                write(out)
        returncode = process.wait()
    if returncode != 0:
        cause = cause_of_failure(list(tail), loader_config(args), returncode)
        write(record("error", cause))
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main())
