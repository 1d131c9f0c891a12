"""Stores that outlive the process: a list's records as one JSON file.

`python -m reviewrover_sandbox --data-file PATH` loads the enrollments from the
file when it exists and saves them there after `--activity` and on shutdown.
The file is written atomically, so a reader or a crash never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reviewrover_sandbox.records import RecordStore

if TYPE_CHECKING:
    from typing_extensions import Self

    from reviewrover_sandbox.timestamps import Clock


class SavableRecordStore(RecordStore):
    """A `RecordStore` that renders to JSON and back, and saves to a file."""

    @classmethod
    def from_json(cls, text: str | bytes, *, clock: Clock | None = None) -> Self:
        """Create a store from the text `to_json()` wrote.

        Args:
            text: The JSON document.
            clock: The API clock.

        Returns:
            The store, with the same records and next id.

        Raises:
            ValueError: The text is not a saved store of this list.
        """
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("list") != cls.NAME:
            msg = f"Not a saved sandbox store of {cls.NAME}"
            raise ValueError(msg)
        return cls.from_records(
            document["records"], next_id=document["next_id"], clock=clock
        )

    @classmethod
    def load(cls, path: Path, *, clock: Clock | None = None) -> Self:
        """Read a store that `save()` wrote.

        Args:
            path: The file.
            clock: The API clock.

        Returns:
            The store.
        """
        return cls.from_json(path.read_bytes(), clock=clock)

    def to_json(self) -> str:
        """Render the records (oldest first) and the next id as one JSON document.

        Returns:
            `{"list": NAME, "next_id": ..., "records": [...]}`.
        """
        with self._lock:
            self._reveal_due_locked()
            records = [dict(record) for record in self._records]
            next_id = self._max_id + 1
        document = {"list": self.NAME, "next_id": next_id, "records": records}
        return json.dumps(document, separators=(",", ":")) + "\n"

    def save(self, path: Path) -> None:
        """Write `to_json()` to `path` atomically: a temporary file, then a rename.

        A reader (or a crash) never sees a half-written file. Missing parent
        directories are created.

        Args:
            path: The file.
        """
        text = self.to_json()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
