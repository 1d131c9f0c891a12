"""How the tap writes Singer messages to stdout: whole lines, in blocks.

The SDK writes and flushes stdout for every message: a system call per record.
:class:`SingerOutput` collects RECORD lines (a page at a time, pre-encoded, see
:class:`EncodedRecords`) and writes them out once a block is full and before every
other message, so that a STATE never reaches the target ahead of the records it
covers.

Every line it writes is a whole message, even when a signal arrives while stdout
is blocked by a slow target: writing is never interrupted half-way. A stop asked
for meanwhile (:meth:`SingerOutput.defer_stop`) runs once the block is out. A
reader that went away (``tap | head -1``), or a stdout closed before the tap
started (``tap >&-``), ends the sync with one clear error.
"""

from __future__ import annotations

import io
import os
import sys
import typing as t
from dataclasses import dataclass

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_reviewrover.errors import ReviewRoverError

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.singerlib.encoding.simple import Message

#: Bytes of RECORD messages held before they are written out (a few pages).
RECORD_BUFFER_BYTES = 64 * 1024
#: The error when the tap has no stdout at all.
NO_STDOUT = (
    "The tap's standard output is closed (started with `>&-`, or by a program "
    "that gave it none): there is nowhere to write its messages. Pipe it into a "
    "target, or redirect it to a file."
)


class OutputClosedError(ReviewRoverError):
    """Whatever reads the tap's output closed it before the sync finished."""


@dataclass(frozen=True)
class EncodedRecords:
    """A block of RECORD lines, already encoded (a page of them).

    Attributes:
        lines: The lines, each ending in a newline.
        count: How many records they hold.
    """

    lines: bytes
    count: int


@dataclass(frozen=True)
class EndOfRecords:
    """No more records for now: write out what is held (a walk is complete).

    The SDK writes a STATE after the last record only when the state changed, so
    the writer cannot count on a message after the records to flush them.
    """


class SingerOutput(MsgSpecWriter):
    """The SDK's msgspec writer, writing whole messages in blocks."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        super().__init__()
        self._buffer = bytearray()
        self._writing = False
        self._pending_stop: Callable[[], None] | None = None
        self.messages_written = 0

    @override
    def write_message(self, message: Message | EncodedRecords | EndOfRecords) -> None:
        if isinstance(message, EndOfRecords):
            self.flush()
            return
        if isinstance(message, EncodedRecords):
            self._buffer += message.lines
            self.messages_written += message.count
            if len(self._buffer) >= RECORD_BUFFER_BYTES:
                self.flush()
            return
        # format_message returns the SDK's shared buffer: copy it out at once.
        self._buffer += self.format_message(message)
        self.messages_written += 1
        if (
            not isinstance(message, RecordMessage)
            or len(self._buffer) >= RECORD_BUFFER_BYTES
        ):
            self.flush()

    def flush(self) -> None:
        """Write out the buffered messages (all of them, or none on a stop).

        Raises:
            OutputClosedError: If the reader of stdout went away.
        """
        if not self._buffer:
            return
        # The buffer itself goes out (no copy); later messages go to a new one.
        data, self._buffer = self._buffer, bytearray()
        self._writing = True
        try:
            _write_all(data)
        except BrokenPipeError:
            _discard_stdout()
            msg = (
                "The program reading the tap's output (the target, or a pipe) "
                f"went away after {self.messages_written} messages; the sync stopped."
            )
            raise OutputClosedError(msg) from None
        finally:
            self._writing = False
        if self._pending_stop is not None:
            stop, self._pending_stop = self._pending_stop, None
            stop()

    def defer_stop(self, stop: Callable[[], None]) -> bool:
        """Run ``stop`` once the block being written is out, if one is.

        Called from a signal handler: a stop that wrote its last STATE (or
        exited) in the middle of a block would leave a line cut in two.

        Args:
            stop: What the stop does.

        Returns:
            True if a block is being written (``stop`` runs after it); False if
            the caller may stop now.
        """
        if self._writing:
            self._pending_stop = stop
            return True
        return False


def _write_all(data: bytes | bytearray) -> None:
    """Write ``data`` to stdout, to the last byte, whatever signals come.

    Raises:
        OutputClosedError: If the tap started without a stdout.
    """
    stream = sys.stdout
    if stream is None:
        # Python sets sys.stdout to None when file descriptor 1 was closed; that
        # descriptor may be reused by any file the tap opens: never write to it.
        raise OutputClosedError(NO_STDOUT)
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        # stdout is not a file (a test captures it): write through it.
        stream.buffer.write(data)
        stream.flush()
        return
    stream.flush()  # whatever was printed before goes first
    view = memoryview(data)
    while view:
        # os.write resumes by itself after a signal handler that returns (PEP 475).
        written = os.write(fd, view)
        view = view[written:]


def _discard_stdout() -> None:
    # Python flushes stdout at exit: to a closed pipe that is one more error.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return
