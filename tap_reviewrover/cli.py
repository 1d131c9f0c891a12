"""The command line: ``tap-reviewrover``, and the files it reads.

``main`` runs the SDK's command, with every error the user can act on as one line
on stderr and exit status 1, never a traceback (that goes to the log at DEBUG).
It installs the process's redactor first, so that no log line of any library
shows a secret. The config, state and catalog files are read here with errors
that name the file and the problem; the SDK's own reading raises bare
``FileNotFoundError`` or JSON errors.
"""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.output import NO_STDOUT
from tap_reviewrover.redaction import REDACTOR

if t.TYPE_CHECKING:
    from singer_sdk import Tap


def main(tap_class: type[Tap]) -> None:
    """Run the tap as ``tap-reviewrover``, with errors as one line.

    Args:
        tap_class: The tap to run.
    """
    REDACTOR.install()
    command = tap_class.cli  # sets up logging
    logger = tap_class.logger
    if sys.stdout is None:
        # File descriptor 1 was closed: every mode (sync, --discover, --about)
        # would write nothing and exit 0.
        logger.error("%s", NO_STDOUT)
        sys.exit(1)
    try:
        command.main(prog_name=tap_class.name)
    except ReviewRoverError as exc:
        logger.error("%s", exc)  # noqa: TRY400 - the message is the point
        sys.exit(1)
    except Exception as exc:
        logger.debug("The error, in full:", exc_info=True)
        logger.error(  # noqa: TRY400 - the traceback is at DEBUG
            "The tap stopped on an unexpected error: %s: %s (set "
            "TAP_REVIEWROVER_LOGLEVEL=DEBUG for the traceback).",
            type(exc).__name__,
            exc,
        )
        sys.exit(1)


def read_text(file: t.IO[str], what: str) -> str:
    """Read a ``--state`` or ``--catalog`` file as UTF-8 text.

    Args:
        file: The open file.
        what: What it is, for the message.

    Returns:
        Its text.

    Raises:
        ReviewRoverError: If it is not UTF-8 text.
    """
    try:
        return file.read()
    except UnicodeDecodeError as exc:
        msg = f"The {what} file is not UTF-8 text ({exc.reason} at byte {exc.start})."
        raise ReviewRoverError(msg) from None


def read_json(text: str, what: str) -> t.Any:  # noqa: ANN401 - any JSON
    """Decode a JSON file's text, with a clear error.

    Args:
        text: The text.
        what: What it is, for the message, such as ``config file config.json``.

    Returns:
        The decoded value.

    Raises:
        ReviewRoverError: If the text is not JSON.
    """
    if not text.strip():
        msg = f"The {what} is empty."
        raise ReviewRoverError(msg)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        msg = f"The {what} is not valid JSON ({exc})."
        raise ReviewRoverError(msg) from None


def read_config_file(path: str) -> dict[str, t.Any]:
    """Read one ``--config`` file.

    Args:
        path: Its path.

    Returns:
        The settings in it.

    Raises:
        ReviewRoverError: If it is missing, unreadable, not UTF-8, not JSON, or
            not a JSON object.
    """
    what = f"config file {path}"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        msg = f"The {what} does not exist."
        raise ReviewRoverError(msg) from None
    except IsADirectoryError:
        msg = f"The {what} is a directory, not a file."
        raise ReviewRoverError(msg) from None
    except OSError as exc:
        msg = f"The {what} cannot be read ({exc.strerror})."
        raise ReviewRoverError(msg) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"The {what} is not UTF-8 text ({exc.reason} at byte {exc.start})."
        raise ReviewRoverError(msg) from None
    config = read_json(text, what)
    if not isinstance(config, dict):
        msg = (
            f"The {what} must hold a JSON object of settings, such as "
            f'{{"auth_token": "..."}}, not a {type(config).__name__}.'
        )
        raise ReviewRoverError(msg)
    return config
