"""The ReviewRover tap: its settings, state and streams, as the SDK sees them.

The settings are declared in :mod:`tap_reviewrover.settings` and checked beyond
JSON Schema in :mod:`tap_reviewrover.config_checks`; the command line and the files
it reads are in :mod:`tap_reviewrover.cli`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_reviewrover import cli, sdk_compat
from tap_reviewrover.config_checks import (
    environment_errors,
    settings_errors,
    unknown_settings,
    with_where_to_set_it,
)
from tap_reviewrover.errors import ReviewRoverError
from tap_reviewrover.output import SingerOutput
from tap_reviewrover.redaction import REDACTOR, SecretRedactor
from tap_reviewrover.settings import ENV_PREFIX, SECRET_SETTINGS, SETTINGS
from tap_reviewrover.state import check_state, read_state_text
from tap_reviewrover.streams import EnrollmentsStream

if t.TYPE_CHECKING:
    import click
    from singer_sdk.streams import Stream

__all__ = ["SETTINGS", "TapReviewRover", "main"]


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
        if kwargs.get("parse_env_config") and (errors := environment_errors()):
            raise self._config_error(errors)
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            # Report the checks below too, so that one run lists every problem.
            errors = [
                *_hide_rejected_secrets(exc.errors, self.config),
                *settings_errors(self.config),
            ]
            raise self._config_error(errors) from None
        for name in SECRET_SETTINGS:
            REDACTOR.add(self.config.get(name))
        if kwargs.get("validate_config", True) and (
            errors := settings_errors(self.config)
        ):
            raise self._config_error(errors)
        for warning in unknown_settings(self.config, self.config_jsonschema):
            self.logger.warning(warning)

    @staticmethod
    def _config_error(errors: list[str]) -> ConfigValidationError:
        return ConfigValidationError(
            "Config validation failed",
            errors=[with_where_to_set_it(REDACTOR.redact(error)) for error in errors],
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
        config_input = super().cb_config(
            ctx, param, tuple(v for v in value if v == "ENV")
        )
        for path in value:
            if path != "ENV":
                config_input.config.update(cli.read_config_file(path))
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
            text = cli.read_text(state, "state")
            state = io.StringIO(json.dumps(read_state_text(text)))
        if catalog is not None:
            text = cli.read_text(catalog, "catalog")
            catalog = io.StringIO(json.dumps(cli.read_json(text, "catalog file")))
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


def _hide_rejected_secrets(
    errors: t.Iterable[str], config: t.Mapping[str, t.Any]
) -> list[str]:
    """The SDK's messages, without the secret values they quote.

    The SDK quotes a rejected value as it is (``5 is not of type 'string' in
    config['auth_token']``), even one too short for the process's redactor to
    learn (such tokens are refused). Only the messages about a secret setting
    are redacted of it: "5" hidden everywhere would read "***00 is greater than
    the maximum of 100" in the message about page_size.

    Args:
        errors: The SDK's messages.
        config: The settings.

    Returns:
        The messages.
    """
    hidden = []
    for error in errors:
        for name in SECRET_SETTINGS:
            if f"config[{name!r}]" in error:
                secret = SecretRedactor([config.get(name)], min_length=1)
                error = secret.redact(error)  # noqa: PLW2901 - the redacted message
        hidden.append(error)
    return hidden


def main() -> None:
    """Run the tap as ``tap-reviewrover`` (see :func:`tap_reviewrover.cli.main`)."""
    cli.main(TapReviewRover)
