"""Every use of a private name of the Singer SDK (or of backoff), in one place.

Each one is here because no public hook does the job; each has a test in
``tests/test_sdk_compat.py`` that fails with a clear message when an SDK upgrade
renames or changes it. On an upgrade: run those tests first, then look again for
a public hook that has appeared for each entry below (the SDK's changelog).

* ``Stream._tap``: the stream writes a page of RECORD lines through the tap's
  message writer (:func:`write_message`), and the tap is not public on a stream.
* ``Stream._initialized_at``: the moment the sync started, in milliseconds; the
  SDK derives a FULL_TABLE table version from it, and so do we
  (:func:`sync_version`), so that versions keep increasing across syncs.
* ``Stream._stream_version``: the version the SDK puts on records it writes
  itself (the stream-maps path); set with :func:`set_record_version`.
* ``Stream._write_activate_version_message``: writes ACTIVATE_VERSION for every
  stream map. The SDK only sends it *before* the first record (a target would
  then retire every row while the new copy is still being read); there is no
  hook to send it after the last record, which :func:`activate_version` does.
* ``Stream._increment_stream_state``: the SDK's per-record bookmark update, which
  :class:`NoRecordStateIncrement` overrides to do nothing (its max-seen
  ``updated_at`` is no safe bookmark on a list ordered by creation, and it costs
  CPU on every record). No hook turns it off.
* ``Tap._handle_termination``: the SDK's SIGTERM/SIGINT handler, which writes the
  last STATE and exits 0. There is no hook to defer the stop until a half-written
  block of output is out, nor to exit non-zero: :class:`StopSignalHook` sends the
  signal to the tap's ``on_stop_signal`` instead, and
  :func:`write_last_state_and_exit` runs the SDK's own handler when it is time.
* the SDK's "An unhandled error occurred while syncing" line: ``Stream.sync``
  logs it at ERROR before re-raising any error, and the tap's ``main`` then logs
  the error itself in one line; :class:`NoUnhandledErrorLine` drops the first, so
  that a failure is exactly one error line (:data:`SDK_UNHANDLED_ERROR`).
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk import Tap

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.streams import Stream

#: The line ``Stream.sync`` logs before re-raising an error from a sync.
SDK_UNHANDLED_ERROR = "An unhandled error occurred while syncing '%s'"


class NoRecordStateIncrement:
    """Stream mixin: the SDK's per-record bookmark update does nothing."""

    def _increment_stream_state(
        self,
        latest_record: Record,
        *,
        context: Context | None = None,
    ) -> None:
        del latest_record, context


class StopSignalHook:
    """Tap mixin: SIGTERM and SIGINT go to the tap's ``on_stop_signal(signum)``."""

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        del frame
        t.cast("t.Any", self).on_stop_signal(signum)


def write_last_state_and_exit(tap: Tap, signum: int) -> None:
    """Run the SDK's own stop: write the tap's last STATE, then exit 0.

    Args:
        tap: The tap.
        signum: The signal it got.
    """
    Tap._handle_termination(tap, signum, None)  # noqa: SLF001


def write_message(stream: Stream, message: t.Any) -> None:  # noqa: ANN401 - any message
    """Write a message through the stream's tap, as the SDK's streams do.

    Args:
        stream: The stream.
        message: A Singer message the tap's writer knows.
    """
    stream._tap.write_message(message)  # noqa: SLF001


def sync_version(stream: Stream) -> int:
    """The table version of this sync: its start, in seconds (the SDK's scheme).

    Args:
        stream: The stream.

    Returns:
        The version.
    """
    return stream._initialized_at // 1000  # noqa: SLF001


def set_record_version(stream: Stream, version: int) -> None:
    """Make the SDK put ``version`` on the records it writes for this stream.

    Args:
        stream: The stream.
        version: The table version.
    """
    stream._stream_version = version  # noqa: SLF001


def activate_version(stream: Stream, version: int) -> None:
    """Write ACTIVATE_VERSION for the stream (and each of its stream maps).

    Args:
        stream: The stream.
        version: The table version every record of the complete copy carried.
    """
    stream._write_activate_version_message(version)  # noqa: SLF001


class NoUnhandledErrorLine(logging.Filter):
    """Drops the SDK's own line about an error that ``main`` reports itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every log record but the SDK's "unhandled error" line.

        Args:
            record: A log record.

        Returns:
            False for that line.
        """
        return record.msg != SDK_UNHANDLED_ERROR

    @classmethod
    def install(cls, logger: logging.Logger) -> None:
        """Add the filter to ``logger`` (once).

        Args:
            logger: A stream's logger, which the SDK's line goes to.
        """
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())
