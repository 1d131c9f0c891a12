"""Put the tap's output through target-snowflake's own code, without Snowflake.

Run with the Python of target-snowflake's Meltano venv, the tap's Singer messages on
stdin. It builds the target's sink for the SCHEMA message and passes every RECORD
through the same steps the target takes before a batch is written (metadata
columns, validation against the schema, timestamp parsing, the key check), then
prints JSON: the table name, each column's Snowflake type and the MERGE statement
of an upsert. Nothing connects anywhere: the SQLAlchemy engine is created without
connecting, and any socket connection attempt fails at once.
"""

from __future__ import annotations

import json
import socket
import sys
import typing as t

import sqlalchemy
from target_snowflake.connector import DEFAULT_RESERVED_WORDS, SnowflakeConnector
from target_snowflake.sinks import SnowflakeSink
from target_snowflake.target import TargetSnowflake

CONFIG = {
    "account": "offline-check",
    "user": "offline",
    "password": "offline",  # never sent: nothing connects
    "database": "analytics",
    "default_target_schema": "reviewrover",
    "add_record_metadata": True,
    "load_method": "upsert",
}


def _refuse_network(*args: object, **kwargs: object) -> t.NoReturn:
    del args, kwargs
    message = "the offline check must not use the network"
    raise OSError(message)


def offline_connector(config: dict[str, t.Any]) -> SnowflakeConnector:
    """The target's connector with a Snowflake engine that has not connected.

    The target's own ``create_engine`` runs ``SHOW DATABASES`` straight away; this
    builds the same engine (URL, connect arguments, reserved words) without it.
    """
    connector = SnowflakeConnector(config)
    engine = sqlalchemy.create_engine(
        connector.sqlalchemy_url, connect_args=connector.get_connect_args()
    )
    engine.dialect.identifier_preparer.reserved_words |= DEFAULT_RESERVED_WORDS
    connector._cached_engine = engine
    return connector


def main() -> None:
    """Read Singer messages on stdin, print what the target makes of them."""
    socket.socket.connect = _refuse_network  # type: ignore[method-assign]
    socket.getaddrinfo = _refuse_network
    messages = [json.loads(line) for line in sys.stdin if line.strip()]
    (schema_message,) = [m for m in messages if m["type"] == "SCHEMA"]
    target = TargetSnowflake(config=CONFIG)
    connector = offline_connector(dict(target.config))
    sink = SnowflakeSink(
        target,
        schema_message["stream"],
        schema_message["schema"],
        schema_message["key_properties"],
        connector=connector,
    )
    schema = sink.conform_schema(sink.schema)
    dialect = connector._engine.dialect
    records = 0
    for message in messages:
        if message["type"] != "RECORD":
            continue
        record = dict(message["record"])
        sink._add_sdc_metadata_to_record(record, message, {})
        sink._validate_and_parse(record)
        record = sink.preprocess_record(record, {})
        sink._singer_validate_message(record)
        sink.process_record(record, {})
        records += 1
    merge, _ = connector._get_merge_from_stage_statement(
        sink.full_table_name, schema, "SYNC_ID", "FILE_FORMAT", sink.key_properties
    )
    json.dump(
        {
            "table": str(sink.full_table_name),
            "columns": {
                name: str(connector.to_sql_type(prop).compile(dialect=dialect))
                for name, prop in schema["properties"].items()
            },
            "merge": str(merge),
            "records_accepted": records,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
