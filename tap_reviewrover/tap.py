"""The ReviewRover tap: its settings and its streams."""

from __future__ import annotations

import difflib
import io
import ipaddress
import json
import os
import re
import signal
import sys
import typing as t
from pathlib import Path

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_reviewrover import sdk_compat
from tap_reviewrover.errors import ReviewRoverError, redact
from tap_reviewrover.output import SingerOutput
from tap_reviewrover.redaction import REDACTOR
from tap_reviewrover.state import check_state, read_state_text
from tap_reviewrover.streams import EnrollmentsStream
from tap_reviewrover.timestamps import InvalidTimestampError, parse_timestamp

if t.TYPE_CHECKING:
    import click
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
#: The most a config, state or catalog file may nest (JSON that deep is no config).
MAX_JSON_DEPTH = 100


class TapReviewRover(sdk_compat.StopSignalHook, Tap):
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
        config = kwargs.get("config")
        if isinstance(config, dict):
            for name in SECRET_SETTINGS:
                REDACTOR.add(config.get(name))
        REDACTOR.add(os.environ.get(f"{ENV_PREFIX}AUTH_TOKEN"))
        REDACTOR.install()
        if kwargs.get("parse_env_config") and (errors := environment_errors()):
            raise self._config_error(errors, {})
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            # Report the checks below too, so that one run lists every problem.
            errors = [*exc.errors, *settings_errors(self.config)]
            raise self._config_error(errors, self.config) from None
        for name in SECRET_SETTINGS:
            REDACTOR.add(self.config.get(name))
        if kwargs.get("validate_config", True) and (
            errors := settings_errors(self.config)
        ):
            raise self._config_error(errors, self.config)
        for warning in unknown_settings(self.config, self.config_jsonschema):
            self.logger.warning(warning)

    @staticmethod
    def _config_error(
        errors: list[str], config: t.Mapping[str, t.Any]
    ) -> ConfigValidationError:
        # The SDK quotes rejected values as they are: hide the secret ones. A
        # missing setting says where it can come from: in Meltano's `prod`, or in
        # a container, that is an environment variable.
        secrets = [config.get(name) for name in SECRET_SETTINGS]
        return ConfigValidationError(
            "Config validation failed",
            errors=[
                _with_where_to_set_it(redact(REDACTOR.redact(error), secrets))
                for error in errors
            ],
        )

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        keys = {stream.name: stream.replication_key for stream in self.streams.values()}
        checked, warnings = check_state(state, keys)
        for warning in warnings:
            self.logger.warning(warning)
        super().load_state(checked)

    @override
    def discover_streams(self) -> list[Stream]:
        return [EnrollmentsStream(self)]

    def on_stop_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT: stop once whole messages are out, exit non-zero.

        The SDK writes the last STATE (which still holds the previous bookmark:
        bookmarks move only when a walk is complete) and exits 0, so that an
        orchestrator would count the stopped sync as a success; and it would write
        that STATE in the middle of a block of records being written out. Stop
        once the block is out, and exit as a signal-killed command does.

        Args:
            signum: The signal.
        """
        writer = self.message_writer
        if isinstance(writer, SingerOutput) and writer.defer_stop(
            lambda: self._stop(signum)
        ):
            return
        self._stop(signum)

    def _stop(self, signum: int) -> None:
        try:
            sdk_compat.write_last_state_and_exit(self, signum)
        except SystemExit:
            self.logger.error(  # noqa: TRY400 - a stop, not a crash: no traceback
                "Stopped by %s before the sync finished; the state it wrote keeps "
                "the previous bookmark.",
                signal.Signals(signum).name,
            )
            sys.exit(128 + signum)

    @classmethod
    @override
    def cb_config(
        cls,
        ctx: click.Context,
        param: click.Option,
        value: tuple[str, ...],
    ) -> t.Any:
        """Read the ``--config`` files, with a clear error for a bad one.

        Args:
            ctx: The click context.
            param: The ``--config`` option.
            value: The paths, or ``ENV``.

        Returns:
            The SDK's config input.
        """
        # The SDK's own reading raises a bare FileNotFoundError or JSON error.
        config_input = super().cb_config(
            ctx, param, tuple(v for v in value if v == "ENV")
        )
        for path in value:
            if path != "ENV":
                config_input.config.update(read_config_file(path))
        return config_input

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
        """Run the tap, reading the state and catalog files with clear errors.

        Args:
            about: Display package metadata and settings.
            about_format: Output format for ``--about``.
            config: Config files or ``ENV``.
            state: The ``--state`` file.
            catalog: The ``--catalog`` file.
        """
        if state is not None:
            state = io.StringIO(json.dumps(read_state_text(read_text(state, "state"))))
        if catalog is not None:
            text = read_text(catalog, "catalog")
            catalog = io.StringIO(json.dumps(read_json(text, "catalog file")))
        try:
            super().invoke(
                about=about,
                about_format=about_format,
                config=config,
                state=state,
                catalog=catalog,
            )
        except ConfigValidationError as exc:
            # The SDK would log each problem, then "Config validation failed" last:
            # `meltano config test` shows only the last line, which must name the
            # setting. One line naming every problem.
            raise ReviewRoverError("; ".join(exc.errors) or str(exc)) from None


def main() -> None:
    """Run the tap as ``tap-reviewrover``, with errors as one line.

    Every error the user can act on is one line on stderr and exit status 1,
    never a traceback (that goes to the log at DEBUG).
    """
    command = TapReviewRover.cli  # sets up logging
    logger = TapReviewRover.logger
    try:
        command.main(prog_name=TapReviewRover.name)
    except ReviewRoverError as exc:
        logger.error("%s", exc)  # noqa: TRY400 - the message is the point
        sys.exit(1)
    except Exception as exc:
        logger.debug("The error, in full:", exc_info=True)
        logger.error(  # noqa: TRY400 - the traceback is at DEBUG
            "The tap stopped on an unexpected error: %s: %s (set "
            "TAP_REVIEWROVER_LOGLEVEL=DEBUG for the traceback).",
            type(exc).__name__,
            exc,
        )
        sys.exit(1)


def _with_where_to_set_it(error: str) -> str:
    missing = re.fullmatch(r"'(\w+)' is a required property", error)
    if missing is None:
        return error
    variable = ENV_PREFIX + missing[1].upper()
    return (
        f"{error}: set {variable} (Meltano reads it in every environment, and the "
        f"tap with --config ENV), or {missing[1]} in the config file"
    )


def read_text(file: t.IO[str], what: str) -> str:
    """Read a ``--state`` or ``--catalog`` file as UTF-8 text.

    Args:
        file: The open file.
        what: What it is, for the message.

    Returns:
        Its text.

    Raises:
        ReviewRoverError: If it is not UTF-8 text.
    """
    try:
        return file.read()
    except UnicodeDecodeError as exc:
        msg = f"The {what} file is not UTF-8 text ({exc.reason} at byte {exc.start})."
        raise ReviewRoverError(msg) from None


def read_json(text: str, what: str) -> t.Any:  # noqa: ANN401 - any JSON
    """Decode a JSON file's text, with a clear error.

    Args:
        text: The text.
        what: What it is, for the message, such as ``config file config.json``.

    Returns:
        The decoded value.

    Raises:
        ReviewRoverError: If the text is not JSON.
    """
    if not text.strip():
        msg = f"The {what} is empty."
        raise ReviewRoverError(msg)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        msg = f"The {what} is not valid JSON ({exc})."
        raise ReviewRoverError(msg) from None


def read_config_file(path: str) -> dict[str, t.Any]:
    """Read one ``--config`` file.

    Args:
        path: Its path.

    Returns:
        The settings in it.

    Raises:
        ReviewRoverError: If it is missing, unreadable, not UTF-8, not JSON, or
            not a JSON object.
    """
    what = f"config file {path}"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        msg = f"The {what} does not exist."
        raise ReviewRoverError(msg) from None
    except IsADirectoryError:
        msg = f"The {what} is a directory, not a file."
        raise ReviewRoverError(msg) from None
    except OSError as exc:
        msg = f"The {what} cannot be read ({exc.strerror})."
        raise ReviewRoverError(msg) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"The {what} is not UTF-8 text ({exc.reason} at byte {exc.start})."
        raise ReviewRoverError(msg) from None
    config = read_json(text, what)
    if not isinstance(config, dict):
        msg = (
            f"The {what} must hold a JSON object of settings, such as "
            f'{{"auth_token": "..."}}, not a {type(config).__name__}.'
        )
        raise ReviewRoverError(msg)
    return config


def environment_errors(environ: t.Mapping[str, str] | None = None) -> list[str]:
    """Check the ``TAP_REVIEWROVER_*`` variables the SDK would convert blindly.

    Args:
        environ: The environment (this process's by default).

    Returns:
        One message per variable that is not what its setting needs.
    """
    environ = os.environ if environ is None else environ
    errors = []
    for name, schema in SETTINGS.to_dict()["properties"].items():
        variable = ENV_PREFIX + name.upper()
        value = environ.get(variable)
        if value is None:
            continue
        kinds = schema.get("type", [])
        if "integer" in kinds and not re.fullmatch(r"[+-]?\d+", value.strip()):
            errors.append(f"{variable} must be a whole number, not {value!r}")
        elif "array" in kinds and not _is_json_list(value):
            errors.append(
                f'{variable} must be a JSON list such as ["a", "b"], not {value!r}'
            )
    return errors


def _is_json_list(value: str) -> bool:
    try:
        return isinstance(json.loads(value), list)
    except ValueError:
        return False


def settings_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Check the settings that JSON Schema cannot.

    Args:
        config: The tap's settings.

    Returns:
        One message per problem; empty when all is well.
    """
    errors: list[str] = [
        f"{name} must not be null: leave it out for the default ({default})"
        for name, default in DEFAULTED_SETTINGS.items()
        if name in config and config[name] is None
    ]
    api_url = config.get("api_url", DEFAULT_API_URL)
    if isinstance(api_url, str) and (problem := api_url_problem(api_url)):
        errors.append(problem)
    token = config.get("auth_token")
    if isinstance(token, str) and (problem := header_value_problem(token.strip())):
        errors.append(f"auth_token {problem}")
    user_agent = config.get("user_agent")
    if isinstance(user_agent, str) and (problem := header_value_problem(user_agent)):
        errors.append(f"user_agent {problem}")
    if isinstance(token, str) and is_placeholder_token(token.strip()):
        errors.append(
            "auth_token is a placeholder (as in sample_config.json), not a "
            "ReviewRover API token: put your token in its place, or set "
            f"{ENV_PREFIX}AUTH_TOKEN"
        )
    dates = {}
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if not isinstance(value, str):
            continue
        try:
            dates[name] = parse_timestamp(value)
        except InvalidTimestampError:
            errors.append(
                f"{name} must be an ISO 8601 date or date-time such as "
                f"2025-02-10 or 2025-02-10T00:00:00Z, not {value!r}",
            )
    if len(dates) == 2 and dates["end_date"] <= dates["start_date"]:  # noqa: PLR2004 - both dates
        errors.append(
            f"end_date ({config['end_date']}) must be later than start_date "
            f"({config['start_date']}): the window holds updates from start_date "
            "up to, not including, end_date"
        )
    campaign_ids = config.get("campaign_ids")
    if (
        isinstance(campaign_ids, list)
        and all(isinstance(campaign_id, str) for campaign_id in campaign_ids)
        and len(set(campaign_ids)) != len(campaign_ids)
    ):
        errors.append("campaign_ids lists the same campaign more than once")
    return errors


#: Stand-ins for a token in samples and docs: sample_config.json's, and the API
#: docs' ``{token}``. Refused before any request, rather than sent to the API.
_PLACEHOLDER_TOKEN = re.compile(r"(?i)your[_ -]\S*|<[^>]*>|\{[^}]*\}|\.\.\.")


def is_placeholder_token(token: str) -> bool:
    """Whether ``token`` is a placeholder such as ``YOUR_REVIEWROVER_API_TOKEN``.

    Args:
        token: The auth_token setting, stripped.

    Returns:
        True for a placeholder (``YOUR_...``, ``<token>``, ``{token}``, ``...``).
    """
    return bool(token) and _PLACEHOLDER_TOKEN.fullmatch(token) is not None


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot go in an HTTP header, if it cannot.

    Args:
        value: The value (a token, a user agent).

    Returns:
        A message, or None when the value is fine.
    """
    if not value:
        return "is empty"
    if any(ord(character) < 32 or ord(character) == 127 for character in value):  # noqa: PLR2004 - control characters
        return "contains control characters (such as a line break inside it)"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "contains characters an HTTP header cannot carry (outside Latin-1)"
    return None


def unknown_settings(
    config: t.Mapping[str, t.Any], config_jsonschema: t.Mapping[str, t.Any]
) -> list[str]:
    """Warnings for settings the tap does not have (a typo such as ``pagesize``).

    Args:
        config: The tap's settings.
        config_jsonschema: The tap's config schema, with the SDK's own settings.

    Returns:
        One warning per unknown setting.
    """
    known = list(config_jsonschema.get("properties", {}))
    warnings = []
    for name in config:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        warnings.append(f"Unknown setting '{name}' is ignored.{hint}")
    return warnings


def api_url_problem(api_url: str) -> str | None:
    """Why ``api_url`` cannot be used, if it cannot.

    Checked with the parser ``requests`` itself uses (urllib3's ``parse_url``), so
    that what is checked is where the token goes: a backslash or a user-info
    trick cannot pass a remote host as the loopback one. Plain ``http://`` would
    send the token in clear text, so it is allowed only for loopback hosts (the
    local sandbox). A user name or password in the URL is refused (and not
    printed): the token is the only credential.

    Args:
        api_url: The setting's value.

    Returns:
        A message, or None when the URL is fine.
    """
    example = f"api_url must be an https:// URL such as {DEFAULT_API_URL}"
    try:
        parts = parse_url(api_url)
    except LocationParseError:
        return example
    if parts.auth is not None:
        return (
            "api_url must not contain a user name or password (user:password@...); "
            "the API token goes in auth_token"
        )
    host = (parts.host or "").strip("[]")
    if parts.scheme not in {"http", "https"} or not host:
        return example
    if "\\" in api_url or any(character.isspace() for character in api_url):
        return example
    if parts.scheme == "https" or _is_loopback(host):
        return None
    return (
        "api_url must use https:// (plain http:// would send the token "
        f"unencrypted; it is allowed only for localhost): {parts.url}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
