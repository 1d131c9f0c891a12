"""The fast RECORD path: a page of records written as one block of lines.

The SDK writes each record through its per-record path: conformance, stream maps,
selection, a message object and a write call per record. When the output is the
plain record, :class:`RecordSink` encodes a whole page in one call and hands the
block to the tap's writer (:class:`~tap_reviewrover.output.SingerOutput`).

Any SDK feature that changes what a record looks like needs the SDK's own path;
:func:`refusals` names each one that applies, and the stream then yields the
records to the SDK instead. A feature the SDK adds later is not listed here: its
test (``tests/test_sink.py``) lists the SDK features it knows of, so that an
upgrade is checked.
"""

from __future__ import annotations

import typing as t

import msgspec
from singer_sdk.mapper import SameRecordTransform

from tap_reviewrover import sdk_compat
from tap_reviewrover.output import EncodedRecords, EndOfRecords

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    from singer_sdk import metrics
    from singer_sdk.streams import Stream


def refusals(stream: Stream, context: Mapping[str, t.Any] | None) -> list[str]:
    """The SDK features in use that the fast path cannot honour.

    Args:
        stream: The stream.
        context: The partition being synced.

    Returns:
        One short name per feature in use; empty when the fast path applies.
    """
    maps = stream.stream_maps
    plain = (
        len(maps) == 1
        and type(maps[0]) is SameRecordTransform
        and maps[0].stream_alias == stream.name
    )
    reasons = {
        "stream maps": not plain,
        "flattening": plain and maps[0].flattening_enabled,
        "deselected fields": not all(stream.mask.values()),
        "batch messages": bool(stream.get_batch_config(stream.config)),
        "a record limit": stream.ABORT_AT_RECORD_COUNT is not None,
        "partition keys the records lack": not set(context or {})
        <= set(stream.schema["properties"]),
    }
    return [name for name, applies in reasons.items() if applies]


class RecordSink:
    """Writes pages of plain records as blocks of RECORD lines.

    Attributes:
        written: Records written so far.
        counter: The SDK's record counter of the sync, once it has one.
    """

    def __init__(self, stream: Stream) -> None:
        """Prepare the encoder of the stream's RECORD lines.

        Args:
            stream: The stream whose records these are.
        """
        self.written = 0
        self.counter: metrics.Counter | None = None
        self._stream = stream
        self._lines = RecordLines(stream.name)

    def write(
        self,
        records: list[t.Any],
        *,
        version: int | None,
        time_extracted: dt.datetime,
    ) -> None:
        """Write one page's records (typed) as a block.

        Args:
            records: The records, in order.
            version: The table version each carries, if versions are on.
            time_extracted: When the page was read.
        """
        if not records:
            return
        block = self._lines.encode(
            records, version=version, time_extracted=time_extracted
        )
        sdk_compat.write_message(self._stream, EncodedRecords(block, len(records)))
        self.written += len(records)
        if self.counter is not None:
            self.counter.increment(len(records))

    def write_out(self) -> None:
        """Have the writer write out every block it holds (before a long wait)."""
        sdk_compat.write_message(self._stream, EndOfRecords())


class RecordLines:
    """Encodes records as Singer RECORD lines, a page at a time.

    One call encodes a whole page in C (``encode_lines``); the message around each
    record is the same for the page, so it is spliced in around each line.
    """

    def __init__(self, stream_name: str) -> None:
        """Prepare the message prefix of one stream.

        Args:
            stream_name: The stream the records belong to.
        """
        self._encoder = msgspec.json.Encoder()
        self._prefix = (
            b'{"type":"RECORD","stream":'
            + self._encoder.encode(stream_name)
            + b',"record":'
        )

    def encode(
        self,
        records: Iterable[msgspec.Struct] | list[t.Any],
        *,
        version: int | None,
        time_extracted: dt.datetime,
    ) -> bytes:
        """One RECORD line per record, each ending in a newline.

        Args:
            records: The records, in order.
            version: The table version every record carries, if any.
            time_extracted: When the page was read.

        Returns:
            The lines; empty for no records.
        """
        body = self._encoder.encode_lines(list(records))
        if not body:
            return b""
        suffix = b',"time_extracted":' + self._encoder.encode(time_extracted)
        if version is not None:
            suffix = b',"version":' + str(version).encode() + suffix
        suffix += b"}"
        # A JSON text never holds a raw newline (strings escape it), so each
        # newline of encode_lines ends exactly one record. The last one is
        # followed by no record: its prefix is cut off. Two copies of the page,
        # not five.
        lines = body.replace(b"\n", suffix + b"\n" + self._prefix)
        return b"".join((self._prefix, memoryview(lines)[: -len(self._prefix)]))


def as_builtins(records: Iterable[msgspec.Struct]) -> Iterable[dict[str, t.Any]]:
    """The records as plain dicts (timestamps as RFC 3339 text), for the SDK.

    Args:
        records: Typed records.

    Yields:
        One dict per record.
    """
    for record in records:
        yield t.cast("dict[str, t.Any]", msgspec.to_builtins(record))
