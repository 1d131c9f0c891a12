"""The ReviewRover tap: its settings and its streams."""

from __future__ import annotations

import io
import ipaddress
import json
import signal
import sys
import typing as t
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_reviewrover.errors import ReviewRoverError, redact
from tap_reviewrover.output import SingerOutput
from tap_reviewrover.state import check_state, read_state_text
from tap_reviewrover.streams import EnrollmentsStream
from tap_reviewrover.timestamps import InvalidTimestampError, parse_timestamp

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.streams import Stream

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
        "page_size",
        th.IntegerType(minimum=1, maximum=100),
        default=100,
        title="Page Size",
        description=(
            "Enrollments per request (1-100). Every sync reads every page, so "
            "the largest page means the fewest requests."
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
        description="Seconds to wait for each API response before retrying.",
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
)


#: Settings whose values must never be printed.
SECRET_SETTINGS = tuple(
    name
    for name, schema in SETTINGS.to_dict()["properties"].items()
    if schema.get("secret")
)


class TapReviewRover(Tap):
    """Singer tap for ReviewRover enrollments."""

    name = "tap-reviewrover"
    message_writer_class = SingerOutput

    config_jsonschema = SETTINGS.to_dict()

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Create the tap, checking settings beyond what JSON Schema can say.

        Args:
            *args: Passed to the SDK's ``Tap``.
            **kwargs: Passed to the SDK's ``Tap``.

        Raises:
            ConfigValidationError: If a setting is invalid. Its messages never
                include the auth token.
        """
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            # Report the checks below too, so that one run lists every problem.
            errors = [*exc.errors, *settings_errors(self.config)]
            raise self._config_error(errors) from None
        if kwargs.get("validate_config", True) and (
            errors := settings_errors(self.config)
        ):
            raise self._config_error(errors)

    def _config_error(self, errors: list[str]) -> ConfigValidationError:
        # The SDK quotes rejected values as they are: hide the secret ones.
        secrets = [self.config.get(name) for name in SECRET_SETTINGS]
        return ConfigValidationError(
            "Config validation failed",
            errors=[redact(error, secrets) for error in errors],
        )

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        checked, warnings = check_state(state)
        for warning in warnings:
            self.logger.warning(warning)
        super().load_state(checked)

    @override
    def discover_streams(self) -> list[Stream]:
        return [EnrollmentsStream(self)]

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # The SDK writes the last STATE (which still holds the previous bookmark,
        # see EnrollmentsStream.walk_finished) and exits 0: an orchestrator would
        # count the stopped sync as a success. Exit as a signal-killed command.
        try:
            super()._handle_termination(signum, frame)
        except SystemExit:
            self.logger.error(  # noqa: TRY400 - a stop, not a crash: no traceback
                "Stopped by %s before the sync finished; the state it wrote keeps "
                "the previous bookmark.",
                signal.Signals(signum).name,
            )
            sys.exit(128 + signum)

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """Run the tap; print errors the user can act on as one line, no traceback.

        Args:
            about: Display package metadata and settings.
            about_format: Output format for ``--about``.
            config: Config files or ``ENV``.
            state: The ``--state`` file.
            catalog: The ``--catalog`` file.
        """
        try:
            if state is not None:
                state = io.StringIO(json.dumps(read_state_text(state.read())))
            super().invoke(
                about=about,
                about_format=about_format,
                config=config,
                state=state,
                catalog=catalog,
            )
        except ReviewRoverError as exc:
            cls.logger.error("%s", exc)  # noqa: TRY400 - the message is the point
            sys.exit(1)


def settings_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Check the settings that JSON Schema cannot.

    Args:
        config: The tap's settings.

    Returns:
        One message per problem; empty when all is well.
    """
    errors: list[str] = []
    api_url = config.get("api_url", DEFAULT_API_URL)
    if isinstance(api_url, str) and (problem := api_url_problem(api_url)):
        errors.append(problem)
    start_date = config.get("start_date")
    if isinstance(start_date, str):
        try:
            parse_timestamp(start_date)
        except InvalidTimestampError:
            errors.append(
                f"start_date must be an ISO 8601 date or date-time such as "
                f"2025-02-10 or 2025-02-10T00:00:00Z, not {start_date!r}",
            )
    campaign_ids = config.get("campaign_ids") or []
    if len(set(campaign_ids)) != len(campaign_ids):
        errors.append("campaign_ids lists the same campaign more than once")
    return errors


def api_url_problem(api_url: str) -> str | None:
    """Why ``api_url`` cannot be used, if it cannot.

    Plain ``http://`` would send the token in clear text, so it is allowed only
    for loopback hosts (the local sandbox).

    Args:
        api_url: The setting's value.

    Returns:
        A message, or None when the URL is fine.
    """
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        return f"api_url must be an https:// URL such as {DEFAULT_API_URL}"
    if parts.scheme == "https" or _is_loopback(host):
        return None
    return (
        "api_url must use https:// (plain http:// would send the token "
        f"unencrypted; it is allowed only for localhost): {api_url}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
