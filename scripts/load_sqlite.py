"""A minimal Singer loader into SQLite, the quickstart's embedded warehouse.

Reads the tap's messages on stdin, upserts enrollments on ``id``, and writes the
tap's STATE to a file only after the rows before it are committed, as a Singer
target must. Prints a short summary of what the warehouse holds.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

COLUMNS = (
    "id",
    "campaign_id",
    "contact_id",
    "enrolled_at",
    "completed",
    "created_at",
    "updated_at",
)

CREATE = """
create table if not exists enrollments (
    id integer primary key,
    campaign_id text,
    contact_id text,
    enrolled_at text,
    completed integer,
    created_at text,
    updated_at text
)
"""

UPSERT = (
    f"insert into enrollments ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed names
    f"values ({', '.join('?' for _ in COLUMNS)}) "
    "on conflict(id) do update set "
    + ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[1:])
)


def load(lines: Iterable[str], database: sqlite3.Connection, state_path: Path) -> int:
    """Load Singer messages; return how many records were upserted."""
    loaded = 0
    for line in lines:
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] == "enrollments":
            record = message["record"]
            database.execute(UPSERT, [record.get(column) for column in COLUMNS])
            loaded += 1
        elif message["type"] == "STATE":
            database.commit()  # the rows first, then the state that counts them
            state_path.write_text(json.dumps(message["value"]))
    database.commit()
    return loaded


def summary(database: sqlite3.Connection, path: Path, loaded: int) -> str:
    """Describe what landed."""
    total, completed = database.execute(
        "select count(*), coalesce(sum(completed), 0) from enrollments",
    ).fetchone()
    rows = database.execute(
        "select campaign_id, count(*) from enrollments group by campaign_id "
        "order by count(*) desc, campaign_id limit 10",
    ).fetchall()
    lines = [
        f"Loaded {loaded} new or changed enrollments into {path}",
        (
            f"The warehouse holds {total} enrollments: {completed} completed, "
            f"{total - completed} active."
        ),
        "Enrollments per campaign:",
        *(f"  {campaign:<24} {count:>7}" for campaign, count in rows),
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the loader."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(arguments.database) as database:
        database.execute(CREATE)
        loaded = load(sys.stdin, database, arguments.state)
        print(summary(database, arguments.database, loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
