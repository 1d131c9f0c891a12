"""Summarise the enrollments table of the quickstart's DuckDB warehouse.

Prints how many enrollments it holds, completed and active, how many per campaign,
and where the file is. Reads the file with the DuckDB that target-duckdb wrote it
with (both pinned: pyproject.toml's ``meltano`` extra, meltano.yml).

Usage::

    .venv/bin/python scripts/warehouse_summary.py --database output/sandbox.duckdb
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
QUERY_CAMPAIGNS = """
    select campaign_id, count(*) as enrollments
    from {schema}.enrollments
    group by campaign_id
    order by enrollments desc, campaign_id
"""


def summary(database: Path, schema: str = "reviewrover") -> list[str]:
    """Describe the enrollments table of a DuckDB file.

    Args:
        database: The DuckDB file.
        schema: The schema target-duckdb loaded into.

    Returns:
        The lines to print.
    """
    with duckdb.connect(str(database), read_only=True) as connection:
        totals = connection.execute(QUERY_TOTALS.format(schema=schema)).fetchone()
        campaigns = connection.execute(QUERY_CAMPAIGNS.format(schema=schema)).fetchall()
    total, completed = totals or (0, 0)
    holds = (
        f"The warehouse holds {total} enrollments: {completed} completed, "
        f"{total - completed} active."
    )
    lines = [holds, "Enrollments per campaign:"]
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
    args = parser.parse_args(argv)
    print("\n".join(summary(args.database, args.schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
