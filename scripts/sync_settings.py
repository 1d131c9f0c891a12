"""Write the tap's settings into every file that lists them, from the config schema.

The config schema (``tap_reviewrover.tap.SETTINGS``) is the one source of truth.
This script derives from it:

- the README's settings table (``tap-reviewrover --about --format=markdown``);
- ``sample_config.json`` (every setting, with a placeholder value);
- the extractor's ``settings`` in ``meltano.yml`` and in the Hub definition
  ``tap-reviewrover.hub.yml``: the tap's own, then the SDK's settings behind the
  capabilities it declares (stream maps, schema flattening, batch), so that
  ``meltano config set tap-reviewrover stream_maps '{...}'`` stores an object.

Usage::

    .venv/bin/python scripts/sync_settings.py           # rewrite what differs
    .venv/bin/python scripts/sync_settings.py --check   # exit 1 if anything differs
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import io
import json
import re
import sys
import typing as t
from pathlib import Path

import yaml

from tap_reviewrover.settings import SETTINGS
from tap_reviewrover.tap import TapReviewRover

ROOT = Path(__file__).resolve().parent.parent
#: Meltano's setting kind for each JSON Schema type of the tap's settings.
KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
#: SDK settings the tap's capabilities bring that Meltano is not told about:
#: ``faker_config`` works only with the ``faker`` package, which the tap does not
#: install.
LEFT_OUT_SDK_SETTINGS = frozenset({"faker_config"})
#: Placeholders in sample_config.json where the default is no good example.
SAMPLE_VALUES: dict[str, t.Any] = {
    "auth_token": "YOUR_REVIEWROVER_API_TOKEN",
    "start_date": "2025-01-01T00:00:00Z",
    "campaign_ids": [],
    "user_agent": "tap-reviewrover (data-team@example.com)",
    "max_requests_per_second": 10,
}


def sdk_settings() -> dict[str, dict[str, t.Any]]:
    """The SDK's settings behind the tap's capabilities, by name, in its order.

    Returns:
        Each setting's JSON Schema, as ``tap-reviewrover --about`` lists it.
    """
    own = SETTINGS.to_dict()
    schema = copy.deepcopy(own)
    TapReviewRover.append_builtin_config(schema)
    return {
        name: setting
        for name, setting in schema["properties"].items()
        if name not in own["properties"] and name not in LEFT_OUT_SDK_SETTINGS
    }


def meltano_settings() -> list[dict[str, t.Any]]:
    """The extractor's settings as Meltano declares them: the tap's, then the SDK's.

    Every kind follows the JSON type, so that Meltano passes each value on as
    typed: ``start_date`` is a ``string``, not a ``date_iso8601`` that Meltano would
    turn from "yesterday" into a date before the tap could refuse it.

    Returns:
        One entry per setting: name, kind, default value, label, description.
    """
    settings = []
    properties = {**SETTINGS.to_dict()["properties"], **sdk_settings()}
    for name, schema in properties.items():
        (json_type,) = [kind for kind in schema["type"] if kind != "null"]
        setting: dict[str, t.Any] = {"name": name, "kind": KINDS[json_type]}
        if "default" in schema:
            setting["value"] = schema["default"]
        setting["label"] = schema["title"]
        setting["description"] = schema["description"]
        if schema.get("secret"):
            setting["sensitive"] = True
        settings.append(setting)
    return settings


def settings_block(indent: int) -> str:
    """The settings as a YAML list, indented for its place in a file.

    Args:
        indent: Spaces before each ``- name:``.

    Returns:
        The YAML text, one line per key.
    """
    text = yaml.safe_dump(
        meltano_settings(), sort_keys=False, allow_unicode=True, width=10_000
    )
    pad = " " * indent
    return "".join(pad + line + "\n" for line in text.splitlines())


def with_settings(text: str, indent: int) -> str:
    """``text`` with the list under its first ``settings:`` at ``indent`` replaced.

    Args:
        text: A YAML file's text.
        indent: The indentation of the ``settings:`` key.

    Returns:
        The new text.

    Raises:
        ValueError: If there is no such key.
    """
    key = " " * indent + "settings:\n"
    start = text.index(key) + len(key)
    pattern = re.compile(rf"^ {{{indent}}}- |^ {{{indent + 2},}}\S", re.MULTILINE)
    end = start
    while match := pattern.match(text, end):
        end = text.index("\n", match.start()) + 1
    if end == start:
        msg = "no settings list found"
        raise ValueError(msg)
    return text[:start] + settings_block(indent) + text[end:]


def readme_text(text: str) -> str:
    """The README with the settings table from ``--about``."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        TapReviewRover.print_about("markdown")
    table = re.search(r"\| Setting \|.*?\n\n", output.getvalue(), re.DOTALL)
    if table is None:
        msg = "--about printed no settings table"
        raise ValueError(msg)
    return re.sub(
        r"(<!-- settings:start -->\n).*?(<!-- settings:end -->)",
        lambda match: match[1] + table.group(0).strip() + "\n" + match[2],
        text,
        flags=re.DOTALL,
    )


def sample_text(text: str) -> str:
    """sample_config.json with every setting, in the schema's order."""
    del text
    sample = {
        name: SAMPLE_VALUES.get(name, schema.get("default"))
        for name, schema in SETTINGS.to_dict()["properties"].items()
    }
    return json.dumps(sample, indent=2) + "\n"


#: Each file, and how its new text follows from its old one.
FILES: dict[str, t.Callable[[str], str]] = {
    "README.md": readme_text,
    "sample_config.json": sample_text,
    # The extractor is the first plugin of meltano.yml; the Hub file is one.
    "meltano.yml": lambda text: with_settings(text, 4),
    "tap-reviewrover.hub.yml": lambda text: with_settings(text, 0),
}


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or, with --check, compare) every file.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        0, or 1 when --check found a file out of step.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing")
    args = parser.parse_args(argv)
    out_of_step = 0
    for name, follow in FILES.items():
        path = ROOT / name
        old = path.read_text()
        new = follow(old)
        if new == old:
            continue
        out_of_step += 1
        if args.check:
            diff = difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                name,
                f"{name} (expected)",
                lineterm="",
            )
            print("\n".join(diff))
        else:
            path.write_text(new)
            print(f"Updated {name}")
    return 1 if args.check and out_of_step else 0


if __name__ == "__main__":
    sys.exit(main())
