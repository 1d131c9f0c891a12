"""How the tap writes Singer messages to stdout."""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

#: Bytes of RECORD messages held before they are written out (a few pages).
RECORD_BUFFER_BYTES = 64 * 1024


class SingerOutput(MsgSpecWriter):
    """The SDK's msgspec writer (twice as fast as its default), writing in blocks.

    The SDK writes and flushes stdout for every message: a system call per
    record. Here records collect in a buffer that is written out when it is full,
    when the stream has emitted a page (:meth:`flush`), and before every other
    message, so a STATE never reaches the target ahead of the records it covers,
    whatever buffering stdout has.
    """

    def __init__(self) -> None:
        """Start with an empty buffer."""
        super().__init__()
        self._records = bytearray()

    @override
    def write_message(self, message: Message) -> None:
        # format_message returns the SDK's shared buffer: copy it out at once.
        self._records += self.format_message(message)
        if (
            not isinstance(message, RecordMessage)
            or len(self._records) >= RECORD_BUFFER_BYTES
        ):
            self.flush()

    def flush(self) -> None:
        """Write out the buffered messages."""
        if self._records:
            sys.stdout.buffer.write(self._records)
            self._records.clear()
        sys.stdout.flush()
