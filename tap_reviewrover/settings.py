"""The tap's settings: the one source of truth for every file that lists them.

``scripts/sync_settings.py`` writes them into meltano.yml, the Hub definition,
sample_config.json and the README's table; the checks JSON Schema cannot express
are in :mod:`tap_reviewrover.config_checks`.
"""

from __future__ import annotations

from singer_sdk import typing as th

DEFAULT_API_URL = "https://dashboard.reviewrover.co/api"


#: The tap's own settings: the one source of truth for meltano.yml, the README
#: table and sample_config.json. (The SDK adds its built-in settings to
#: ``config_jsonschema`` in place, so tests read this instead.)
SETTINGS = th.PropertiesList(
    th.Property(
        "auth_token",
        th.StringType(min_length=1),
        required=True,
        secret=True,
        title="Auth Token",
        description=(
            "ReviewRover API token, sent as a bearer token. Also read from "
            "TAP_REVIEWROVER_AUTH_TOKEN when the tap runs with --config ENV."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="API URL",
        description=(
            "Root of the ReviewRover API; the tap calls {api_url}/v1/enrollments. "
            "Must be https://, except for a loopback host such as the local "
            "sandbox."
        ),
    ),
    th.Property(
        "start_date",
        th.StringType,
        title="Start Date",
        description=(
            "ISO 8601 date or date-time (such as 2025-02-10 or "
            "2025-02-10T00:00:00Z). On the first sync only enrollments updated "
            "at or after it are emitted."
        ),
    ),
    th.Property(
        "end_date",
        th.StringType,
        title="End Date",
        description=(
            "ISO 8601 date or date-time, later than start_date. Only enrollments "
            "updated before it are emitted, and the bookmark stops there: with "
            "start_date, a backfill window. A FULL_TABLE sync ignores it."
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=100),
        default=100,
        title="Page Size",
        description=(
            "Enrollments per request (1-100). A full scan reads every page (and "
            "the narrow walk every page of open enrollments), so the largest page "
            "means the fewest requests."
        ),
    ),
    th.Property(
        "campaign_ids",
        th.ArrayType(th.StringType(min_length=1)),
        title="Campaign IDs",
        description=(
            "Sync only these campaigns, each with its own bookmark. "
            "Default: all enrollments."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0, maximum=600),
        default=60,
        title="Request Timeout",
        description=(
            "Seconds a whole response may take (connecting, headers and body) "
            "before the try fails and is retried."
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=5,
        title="Max Retries",
        description=(
            "Retries of a request that failed with 429, a 5xx, a timeout or a "
            "dropped connection, before the sync stops with an error."
        ),
    ),
    th.Property(
        "user_agent",
        th.StringType,
        title="User Agent",
        description="User-Agent header to send. Default: tap-reviewrover/VERSION.",
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1, maximum=16),
        default=4,
        title="Max Concurrent Requests",
        description=(
            "Pages requested at the same time once the first page has told how "
            "many there are (1-16). 1 reads pages one by one. A 429 or 5xx on "
            "any request pauses them all."
        ),
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(exclusive_minimum=0, maximum=1000),
        title="Max Requests Per Second",
        description=(
            "A request rate the tap never exceeds, for an API limit you know. "
            "Without it the tap learns the rate from the API: it slows down on "
            "each 429 (and as RateLimit headers say) and speeds up again while "
            "none come."
        ),
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=True,
        title="Emit ACTIVATE_VERSION Messages",
        description=(
            "Give every record the sync's table version and, on a FULL_TABLE sync, "
            "send ACTIVATE_VERSION after the last record, so that the target "
            "retires rows deleted in ReviewRover (hard_delete, or _sdc_deleted_at) "
            "once the new copy is complete. Never sent when a sync fails part-way."
        ),
    ),
    th.Property(
        "lookback_seconds",
        th.IntegerType(minimum=0, maximum=86_400),
        default=300,
        title="Lookback Seconds",
        description=(
            "How far before the previous sync's start an incremental sync re-reads "
            "updates, on top of a fixed 60 s margin for clocks: an update that "
            "becomes visible later than this after its updated_at (replica lag, a "
            "long transaction) would be missed. Larger re-emits more rows."
        ),
    ),
    th.Property(
        "max_response_megabytes",
        th.IntegerType(minimum=1, maximum=1024),
        default=16,
        title="Max Response Megabytes",
        description=(
            "Largest answer the tap accepts, after decompression; a page of 100 "
            "enrollments is about 25 KB. A larger one stops the sync, naming the "
            "page, instead of exhausting memory."
        ),
    ),
    th.Property(
        "full_table_max_shrink_percent",
        th.IntegerType(minimum=0, maximum=100),
        default=50,
        title="Full Table Max Shrink Percent",
        description=(
            "Percentage of the rows of the last whole FULL_TABLE copy that a new "
            "copy may lack before the tap refuses to send ACTIVATE_VERSION (which "
            "deletes them in the target) and stops with an error naming both "
            "counts. An empty copy never sends it. 100 turns the guard off."
        ),
    ),
    th.Property(
        "activate_version_grace_hours",
        th.IntegerType(minimum=0, maximum=720),
        default=6,
        title="ACTIVATE_VERSION Grace Hours",
        description=(
            "ACTIVATE_VERSION retires only rows last loaded by a sync that started "
            "more than this many hours before the FULL_TABLE copy, so that a sync "
            "overlapping the copy never loses a row. A deleted enrollment leaves "
            "the table at the first copy that starts this long after its last load."
        ),
    ),
    th.Property(
        "incremental_strategy",
        th.StringType,
        default="full_scan",
        allowed_values=["full_scan", "open_enrollments"],
        title="Incremental Strategy",
        description=(
            "How an incremental sync reads the list. full_scan: every page, every "
            "sync. open_enrollments: the newest pages, every open (not completed) "
            "enrollment, and those open at the last sync one by one, which costs "
            "what changed rather than what exists; it assumes a completed "
            "enrollment does not change again except by deletion, and walks every "
            "page every full_scan_every_hours to catch what that misses."
        ),
    ),
    th.Property(
        "full_scan_every_hours",
        th.IntegerType(minimum=0, maximum=8760),
        default=24,
        title="Full Scan Every Hours",
        description=(
            "With incremental_strategy open_enrollments: walk every page when the "
            "last whole walk is older than this many hours (0: every sync), "
            "emitting what changed since that walk, edits of completed enrollments "
            "included. Its time is kept in the incremental state; a FULL_TABLE "
            "job's state is its own."
        ),
    ),
    th.Property(
        "max_open_ids",
        th.IntegerType(minimum=0, maximum=10_000_000),
        default=1_000_000,
        title="Max Open IDs",
        description=(
            "With incremental_strategy open_enrollments: the most open enrollments "
            "whose ids the state keeps (compressed: about 1 byte each when 5% of "
            "enrollments are open, less when more are). Beyond it every sync "
            "walks every page, and says why."
        ),
    ),
)


#: Settings whose values must never be printed.
SECRET_SETTINGS = tuple(
    name
    for name, schema in SETTINGS.to_dict()["properties"].items()
    if schema.get("secret")
)
#: Settings that have a default: null is no way to ask for it.
DEFAULTED_SETTINGS = {
    name: schema["default"]
    for name, schema in SETTINGS.to_dict()["properties"].items()
    if "default" in schema
}
#: Prefix of the environment variables read with ``--config ENV``.
ENV_PREFIX = "TAP_REVIEWROVER_"
