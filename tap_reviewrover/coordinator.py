"""One partition's sync, start to end: the coordinator of the parts.

Short on purpose, like airbyte-cdk's ``SimpleRetriever`` or dlt's ``paginate``:
the walker reads the pages, the bookmark says what to emit, the sink writes it
(or the SDK's own path does, when the output is not the plain record), and once
the walk is whole the bookmark moves and the version rules decide on
ACTIVATE_VERSION. Nothing here talks HTTP or knows the SDK.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from operator import attrgetter

from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.records import repaired
from tap_reviewrover.sink import as_builtins

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Mapping

    from tap_reviewrover.bookmarks import PartitionBookmark
    from tap_reviewrover.pages import FetchedPage
    from tap_reviewrover.sink import RecordSink
    from tap_reviewrover.versions import VersionRules
    from tap_reviewrover.walkers.base import TakenPage, Walker


@dataclass
class PartitionSync:
    """Runs one partition (see the module doc).

    Attributes:
        walker: Reads the partition's pages.
        bookmark: The partition's bookmark rules and state.
        versions: The sync's version rules.
        sink: Writes plain records a page at a time.
        fast: Whether the sink may write (the output is the plain record).
        replication_key: The records' field of their last change.
        logger: Where the lines go.
        names: The stream's name, and the partition's filters, for messages.
    """

    walker: Walker
    bookmark: PartitionBookmark
    versions: VersionRules
    sink: RecordSink
    fast: bool
    replication_key: str
    logger: logging.Logger
    names: tuple[str, Mapping[str, t.Any] | None]

    def records(self, page_taken: Callable[[], None]) -> Iterator[dict[str, t.Any]]:
        """Walk, writing what to emit; yield it instead when the SDK must write.

        Args:
            page_taken: Called once per page taken (the SDK's request counter).

        Yields:
            The records to emit, as dicts, on the SDK's own path only.
        """
        updated = attrgetter(self.replication_key)
        version = self.versions.version
        try:
            for taken in self.walker.pages(self._first):
                page_taken()
                records = self._wanted(taken, updated)
                fetched = taken.fetched
                if warning := repaired(fetched.records, fetched.repairs, records):
                    self.logger.warning("%s", warning)
                if not self.fast:
                    yield from as_builtins(records)
                    continue
                received_at = taken.fetched.received_at
                self.sink.write(records, version=version, time_extracted=received_at)
        finally:
            self.sink.write_out()
            for note in self.walker.result.notes:
                self.logger.info("%s", note)

    def finish(
        self, stream_state: dict[str, t.Any], settings: Mapping[str, t.Any]
    ) -> int | None:
        """Once the walk is whole: move the bookmark, decide ACTIVATE_VERSION.

        Args:
            stream_state: The stream's state, where the last whole copy is kept.
            settings: The tap's settings.

        Returns:
            The version to activate, if any.

        Raises:
            ReviewRoverError: If the copy must not be activated, and why.
        """
        result = self.walker.result
        if not result.whole:
            return None
        self.bookmark.finish()
        self.walker.finish()
        decision = self.versions.after_copy(
            stream_state, result.total, settings, stream=self.names[0]
        )
        if decision.problem:
            raise ReviewRoverError(decision.problem)
        return decision.version

    def write_out_then(self, then: Callable[[], None]) -> None:
        """Have the walk's thread write out what was read, then call ``then``.

        Thread-safe: the requester calls it before a long wait.

        Args:
            then: Called once it is out (or the walk has ended).
        """

        def write_out() -> None:
            try:
                self.sink.write_out()
            finally:
                then()

        self.walker.post(write_out)

    def _wanted(
        self, taken: TakenPage, updated: Callable[[t.Any], t.Any]
    ) -> list[t.Any]:
        """What to emit of a page: updated within the window, or kept by the walk."""
        window = self.bookmark.window
        wanted = window.wanted(taken.records, updated)
        if not taken.kept:
            return wanted
        end = window.end  # a backfill's end_date holds for kept records too
        chosen = {id(record) for record in wanted}
        chosen.update(id(r) for r in taken.kept if end is None or updated(r) < end)
        return [record for record in taken.records if id(record) in chosen]

    def _first(self, first: FetchedPage) -> None:
        """What the walk's first answer settles: the sync's start, what to emit."""
        stream, partition = self.names
        where = f" for {dict(partition)}" if partition else ""
        for warning in self.bookmark.begin(first.api_clock, first.received_at):
            self.logger.warning("%s%s", warning, where)
        if partition and first.pagination.total == 0:
            filters = ", ".join(f"{k} {v!r}" for k, v in partition.items())
            self.logger.warning(
                "ReviewRover has no %s for %s: check that setting.", stream, filters
            )
