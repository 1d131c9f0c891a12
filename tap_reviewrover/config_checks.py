"""The checks of settings that JSON Schema cannot express.

Each returns messages, one per problem, that name the setting and never quote a
secret; the tap lists them all together and exits (``TapReviewRover.__init__``).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import typing as t

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_reviewrover.redaction import MIN_SECRET_LENGTH
from tap_reviewrover.settings import (
    DEFAULT_API_URL,
    DEFAULTED_SETTINGS,
    ENV_PREFIX,
    SETTINGS,
)
from tap_reviewrover.timestamps import InvalidTimestampError, parse_timestamp


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
    if isinstance(token, str) and (problem := token_problem(token.strip())):
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
    errors.extend(dates_problems(config))
    campaign_ids = config.get("campaign_ids")
    if (
        isinstance(campaign_ids, list)
        and all(isinstance(campaign_id, str) for campaign_id in campaign_ids)
        and len(set(campaign_ids)) != len(campaign_ids)
    ):
        errors.append("campaign_ids lists the same campaign more than once")
    return errors


def dates_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """The problems of ``start_date`` and ``end_date``, if any.

    Args:
        config: The tap's settings.

    Returns:
        One message per problem.
    """
    errors, dates = [], {}
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


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be an API token, if it cannot.

    Args:
        token: The token, stripped of surrounding whitespace.

    Returns:
        A message (that does not quote the token), or None when it is fine.
    """
    if problem := header_value_problem(token):
        return problem
    if len(token) < MIN_SECRET_LENGTH:
        # Every output is redacted of the token: "5" or "token" would be masked
        # in ordinary lines ("5*** records"), and no real token is that short.
        characters = "character" if len(token) == 1 else "characters"
        return (
            f"is {len(token)} {characters} long: a ReviewRover API token is longer "
            f"(at least {MIN_SECRET_LENGTH}); check that the whole token was copied"
        )
    return None


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


def api_url_problem(api_url: str) -> str | None:  # noqa: PLR0911 - one per problem
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
    if parts.query is not None or parts.fragment is not None:
        # The tap appends /v1/enrollments to the URL: a query or fragment would
        # end up in the middle of every request's path (and may carry a secret).
        return (
            "api_url must be the API's root, without a query (?...) or fragment "
            f"(#...), such as {DEFAULT_API_URL}"
        )
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


def catalog_problem(
    stream: str,
    *,
    fields: t.Collection[str],
    created_key: str,
    keys: tuple[tuple[str, ...], str | None],
    declared: tuple[tuple[str, ...], str | None],
) -> str | None:
    """Why a catalog's entry for ``stream`` cannot be synced, if it cannot.

    The walk places each record by its key and creation time, and the bookmark
    moves on the time of the last change: a catalog without one of them would
    have the tap write a SCHEMA without a field every RECORD carries (or lose
    rows, on a key or replication key of the catalog's own choosing).
    Deselecting other fields (``"selected": false``) is fine.

    Args:
        stream: The stream's name.
        fields: The properties of the catalog's schema for the stream.
        created_key: The field the list is ordered by.
        keys: The catalog's key properties and replication key.
        declared: The stream's own.

    Returns:
        A message, or None when the entry is fine.
    """
    needed = dict.fromkeys(declared[0], "the key of every record")
    needed[created_key] = "the order of the list"
    if declared[1] is not None:
        needed[declared[1]] = "the replication key"
    missing = [
        f"{name} ({role})" for name, role in needed.items() if name not in fields
    ]
    if missing:
        return (
            f"The catalog's schema for {stream} lacks {', '.join(missing)}, which "
            "the tap needs to sync it. Start from the catalog of --discover, and "
            'deselect fields with "selected": false rather than removing them.'
        )
    if keys != declared:
        return (
            f"The catalog gives {stream} the key properties {list(keys[0])} and the "
            f"replication key {keys[1]!r}; the tap walks the list by "
            f"{list(declared[0])} and bookmarks {declared[1]!r}, which a catalog "
            "cannot change. Start from the catalog of --discover."
        )
    return None


def with_where_to_set_it(error: str) -> str:
    """Add to a missing-setting message where the setting can come from.

    In Meltano's ``prod`` environment, or in a container, that is an environment
    variable.

    Args:
        error: A config validation message.

    Returns:
        The message, with the variable that sets a missing setting.
    """
    missing = re.fullmatch(r"'(\w+)' is a required property", error)
    if missing is None:
        return error
    variable = ENV_PREFIX + missing[1].upper()
    return (
        f"{error}: set {variable} (Meltano reads it in every environment, and the "
        f"tap with --config ENV), or {missing[1]} in the config file"
    )
