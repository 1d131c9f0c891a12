"""target-snowflake, loading into the local fakesnow server the Snowflake test starts.

Run with the Python of target-snowflake's Meltano venv, in the test-only Meltano
environment of ``tests/test_meltano_snowflake.py`` (its loader-guard runs this in
place of ``target-snowflake``). It is the real ``meltanolabs-target-snowflake``:
its sink, batching (gzipped JSON lines), table creation, type mapping and the SQL
it writes, ACTIVATE_VERSION included. The connector changes only where fakesnow
cannot follow Snowflake:

- it connects to ``FAKESNOW_HOST``:``FAKESNOW_PORT`` over http (the target has no
  host setting: it always dials ``<account>.snowflakecomputing.com``), and the
  SQLAlchemy dialect does not ask for the server's version (fakesnow has no
  ``CURRENT_VERSION()``);
- ``PUT`` to the user stage is not sent: the batch files are remembered, and
  ``REMOVE`` and ``CREATE``/``DROP FILE FORMAT`` are not sent either (fakesnow has
  no user stage and no file formats). **Uploading to the stage stays untested.**
- the target's own ``MERGE`` (and ``COPY``) statement is sent with its source
  replaced: the stage ``'@~/target-snowflake/<sync_id>'(file_format => ...)``
  becomes those batch files, read by DuckDB, ``$1`` (the staged JSON) becomes
  their line, and ``SEQ8()`` (which fakesnow cannot run in a window) the line's
  position, so that the last record of a key in a batch wins, as in Snowflake.
  Each replacement must apply, or the adapter stops: a change in the target's SQL
  is seen, not papered over.
"""

from __future__ import annotations

import os
import typing as t
from urllib.parse import urlsplit

from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
from sqlalchemy import text
from target_snowflake.connector import SnowflakeConnector
from target_snowflake.sinks import SnowflakeSink
from target_snowflake.target import TargetSnowflake

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import TextClause

#: The staged batch's columns in the replaced source: the JSON line, its position.
LINE, POSITION = "_staged_line", "_staged_position"


class LocalSnowflakeConnector(SnowflakeConnector):  # type: ignore[misc]
    """The target's connector, talking to the local server without a stage."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Start with no staged files."""
        self.staged: dict[str, list[str]] = {}
        super().__init__(*args, **kwargs)

    def get_connect_args(self) -> dict[str, t.Any]:
        """The target's connect arguments, aimed at the local server."""
        args = super().get_connect_args()
        return {
            **args,
            "host": os.environ["FAKESNOW_HOST"],
            "port": int(os.environ["FAKESNOW_PORT"]),
            "protocol": "http",
            # A session schema, which fakesnow needs to load (Snowflake's default).
            "schema": "PUBLIC",
            # fakesnow answers what it cannot run with HTTP 500, which the
            # connector would retry for ever: no retries (a query still runs to
            # the end, however long).
            "network_timeout": 1,
            "session_parameters": {
                **args.get("session_parameters", {}),
                "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
            },
        }

    def put_batches_to_stage(self, sync_id: str, files: Sequence[str]) -> None:
        """Remember the batch files instead of uploading them (PUT)."""
        self.staged[sync_id] = [urlsplit(file).path or file for file in files]

    def remove_staged_files(self, sync_id: str) -> None:
        """Forget the batch files (REMOVE)."""
        self.staged.pop(sync_id, None)

    def create_file_format(self, file_format: str, file_type: str = "JSON") -> None:
        """No file format: the source reads the files itself."""
        del file_format, file_type

    def drop_file_format(self, file_format: str) -> None:
        """No file format to drop."""
        del file_format

    def _get_merge_from_stage_statement(
        self,
        full_table_name: object,
        schema: dict[str, t.Any],
        sync_id: str,
        file_format: str,
        key_properties: Sequence[str],
    ) -> tuple[TextClause, dict[str, t.Any]]:
        statement, kwargs = super()._get_merge_from_stage_statement(
            full_table_name, schema, sync_id, file_format, key_properties
        )
        return text(self.from_files(str(statement), sync_id, file_format)), kwargs

    def _get_copy_statement(
        self,
        full_table_name: object,
        schema: dict[str, t.Any],
        sync_id: str,
        file_format: str,
    ) -> tuple[TextClause, dict[str, t.Any]]:
        statement, kwargs = super()._get_copy_statement(
            full_table_name, schema, sync_id, file_format
        )
        return text(self.from_files(str(statement), sync_id, file_format)), kwargs

    def from_files(self, sql: str, sync_id: str, file_format: str) -> str:
        """The target's statement, reading the batch files instead of the stage."""
        files = ", ".join(f"'{path}'" for path in self.staged[sync_id])
        source = (
            f"(select row_number() over () as {POSITION}, json as {LINE} "  # noqa: S608 - the target's own files
            f"from read_json_objects([{files}]))"
        )
        stage = f"'@~/target-snowflake/{sync_id}'"
        copy_source = f"{stage})file_format = (format_name='{file_format}')"
        replacements = {
            f"{stage}(file_format => {file_format})": source,  # MERGE
            copy_source: f"{source})",  # COPY
            "$1:": f"{LINE}:",
            "ORDER BY SEQ8() DESC": f"ORDER BY {POSITION} DESC",
        }
        applied = 0
        for old, new in replacements.items():
            applied += old in sql
            sql = sql.replace(old, new)
        if "@~" in sql or "$1" in sql or "SEQ8()" in sql or applied < 2:
            msg = f"target-snowflake's SQL changed; the adapter cannot follow: {sql}"
            raise RuntimeError(msg)
        return sql


class LocalSnowflakeSink(SnowflakeSink):  # type: ignore[misc]
    """The target's sink, with the local connector."""

    connector_class = LocalSnowflakeConnector


class LocalTargetSnowflake(TargetSnowflake):  # type: ignore[misc]
    """The target, with the local sink."""

    default_sink_class = LocalSnowflakeSink


def no_server_version(dialect: SnowflakeDialect, connection: object) -> None:
    """The version SQLAlchemy asks for on connecting: none (fakesnow cannot say)."""
    del dialect, connection


if __name__ == "__main__":
    SnowflakeDialect._get_server_version_info = no_server_version
    LocalTargetSnowflake.cli()
