"""Summarise the enrollments table of the quickstart's DuckDB warehouse.

Prints what the last run changed (new and updated rows), how many enrollments the
table holds, completed and active, how many per campaign, and where the file is.
Reads the file with the DuckDB that target-duckdb wrote it with (both pinned:
pyproject.toml's ``meltano`` extra, meltano.yml).

Usage::

    summary="scripts/warehouse_summary.py --database output/sandbox.duckdb"
    .venv/bin/python $summary --snapshot output/before.parquet  # before a run
    .venv/bin/python $summary --changes-from output/before.parquet  # after it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

QUERY_TOTALS = """
    select count(*), count(*) filter (where completed)
    from {schema}.enrollments
"""
QUERY_SNAPSHOT = "copy (select id, updated_at from {schema}.enrollments) to '{path}'"
QUERY_EMPTY_SNAPSHOT = (
    "copy (select 0::bigint as id, null::timestamp as updated_at limit 0) to '{path}'"
)
QUERY_CHANGES = """
    select
        count(*) filter (where before.id is null),
        count(*) filter (where before.updated_at is distinct from now.updated_at)
            - count(*) filter (where before.id is null)
    from {schema}.enrollments as now
    left join read_parquet('{path}') as before using (id)
"""
QUERY_CAMPAIGNS = """
    select campaign_id, count(*) as enrollments
    from {schema}.enrollments
    group by campaign_id
    order by enrollments desc, campaign_id
"""


def snapshot(database: Path, path: Path, schema: str = "reviewrover") -> None:
    """Keep each row's id and ``updated_at`` in a Parquet file, to compare later.

    Args:
        database: The DuckDB file (it may not exist yet: the snapshot is empty).
        path: The Parquet file to write.
        schema: The schema target-duckdb loads into.
    """
    with duckdb.connect(":memory:") as connection:
        if database.exists():
            connection.execute(f"attach '{database}' as warehouse (read_only)")
            connection.execute("use warehouse")
            try:
                connection.execute(QUERY_SNAPSHOT.format(schema=schema, path=path))
            except duckdb.CatalogException:
                pass
            else:
                return
        connection.execute(QUERY_EMPTY_SNAPSHOT.format(path=path))


def summary(
    database: Path,
    schema: str = "reviewrover",
    *,
    changes_from: Path | None = None,
) -> list[str]:
    """Describe the enrollments table of a DuckDB file.

    Args:
        database: The DuckDB file.
        schema: The schema target-duckdb loaded into.
        changes_from: A snapshot taken before the last run (:func:`snapshot`).

    Returns:
        The lines to print.
    """
    lines = []
    with duckdb.connect(str(database), read_only=True) as connection:
        totals = connection.execute(QUERY_TOTALS.format(schema=schema)).fetchone()
        campaigns = connection.execute(QUERY_CAMPAIGNS.format(schema=schema)).fetchall()
        if changes_from is not None:
            query = QUERY_CHANGES.format(schema=schema, path=changes_from)
            new, updated = connection.execute(query).fetchone() or (0, 0)
            lines.append(
                f"This run changed the warehouse: {new} new enrollments, "
                f"{updated} updated."
            )
    total, completed = totals or (0, 0)
    holds = (
        f"The warehouse holds {total} enrollments: {completed} completed, "
        f"{total - completed} active."
    )
    lines += [holds, "Enrollments per campaign:"]
    width = max((len(campaign) for campaign, _ in campaigns), default=0)
    lines += [f"  {campaign:<{width}}  {count:>6}" for campaign, count in campaigns]
    lines.append(f"Database: {display_path(database)} (table {schema}.enrollments)")
    return lines


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is inside it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of the database named on the command line.

    Args:
        argv: Command-line arguments; ``sys.argv[1:]`` by default.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, required=True, help="DuckDB file")
    parser.add_argument("--schema", default="reviewrover", help="schema of the table")
    parser.add_argument(
        "--snapshot", type=Path, help="only keep ids and updated_at in this file"
    )
    parser.add_argument(
        "--changes-from", type=Path, help="a snapshot to count the changes against"
    )
    args = parser.parse_args(argv)
    if args.snapshot is not None:
        snapshot(args.database, args.snapshot, args.schema)
        return 0
    lines = summary(args.database, args.schema, changes_from=args.changes_from)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
