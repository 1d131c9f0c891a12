"""A minimal Singer loader into SQLite, the quickstart's embedded warehouse.

Reads the tap's messages on stdin: each SCHEMA makes a table (columns and primary
key from the message), RECORDs are upserted on the primary key, and a STATE is
written to the state file only once the rows before it are committed, as a Singer
target must. Prints a short summary of the ``enrollments`` table.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

SQL_TYPES = {"integer": "integer", "boolean": "integer", "number": "real"}


@dataclass(frozen=True)
class Table:
    """Where one stream's records go."""

    columns: list[str]
    upsert: str


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def create_table(database: sqlite3.Connection, message: dict[str, Any]) -> Table:
    """Create the table a SCHEMA message describes, if it does not exist."""
    properties: dict[str, Any] = message["schema"]["properties"]
    keys: list[str] = message["key_properties"]
    columns = list(properties)
    definitions = []
    for column, schema in properties.items():
        types = schema.get("type", "string")
        json_type = next(
            (
                kind
                for kind in ([types] if isinstance(types, str) else types)
                if kind != "null"
            ),
            "string",
        )
        definitions.append(f"{quote(column)} {SQL_TYPES.get(json_type, 'text')}")
    table = quote(message["stream"])
    key = ", ".join(quote(column) for column in keys)
    database.execute(
        f"create table if not exists {table} "
        f"({', '.join(definitions)}, primary key ({key}))",
    )
    updates = ", ".join(
        f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in keys
    )
    upsert = (
        f"insert into {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608 - quoted names
        f"values ({', '.join('?' for _ in columns)}) "
        f"on conflict ({key}) do update set {updates}"
    )
    return Table(columns, upsert)


def load(lines: Iterable[str], database: sqlite3.Connection, state_path: Path) -> int:
    """Load Singer messages; return how many records were upserted."""
    tables: dict[str, Table] = {}
    loaded = 0
    for line in lines:
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            tables[message["stream"]] = create_table(database, message)
        elif message["type"] == "RECORD":
            table = tables[message["stream"]]
            record = message["record"]
            database.execute(table.upsert, [record.get(c) for c in table.columns])
            loaded += 1
        elif message["type"] == "STATE":
            database.commit()  # the rows first, then the state that counts them
            state_path.write_text(json.dumps(message["value"]))
    database.commit()
    return loaded


def summary(database: sqlite3.Connection, path: Path, loaded: int) -> str:
    """Describe what landed."""
    if not database.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'enrollments'",
    ).fetchone():
        return f"Nothing loaded into {path}: the tap sent no enrollments schema."
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
        loaded = load(sys.stdin, database, arguments.state)
        print(summary(database, arguments.database, loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
