"""meltano.yml and the Hub file: in step with the tap, valid, pinned.

Snowflake's settings resolve from the environment here; loading into Snowflake
is tested in tests/test_meltano_snowflake.py.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import typing as t
from importlib.resources import files
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml

from tap_reviewrover.settings import SETTINGS
from tests.meltano_project import ROOT, MeltanoProject

if t.TYPE_CHECKING:
    from reviewrover_sandbox import SandboxServer

SNOWFLAKE_ENV = {
    "TARGET_SNOWFLAKE_ACCOUNT": "myorg-account1",
    "TARGET_SNOWFLAKE_USER": "LOADER",
    "TARGET_SNOWFLAKE_PASSWORD": "snowflake-password-3e1f",
    "TARGET_SNOWFLAKE_DATABASE": "ANALYTICS",
    "TARGET_SNOWFLAKE_WAREHOUSE": "LOADING",
    "TARGET_SNOWFLAKE_ROLE": "LOADER_ROLE",
    "TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": "REVIEWROVER",
}
HUB_FILE = ROOT / "tap-reviewrover.hub.yml"
REPOSITORY = "https://github.com/reviewrover/tap-reviewrover"


@functools.cache
def meltano_schema() -> dict[str, t.Any]:
    """Meltano's JSON Schema of meltano.yml."""
    schema = files("meltano.schemas").joinpath("meltano.schema.json").read_text()
    return t.cast("dict[str, t.Any]", json.loads(schema))


@functools.cache
def meltano_yml() -> dict[str, t.Any]:
    """The project file, parsed."""
    return t.cast(
        "dict[str, t.Any]", yaml.safe_load((ROOT / "meltano.yml").read_text())
    )


@functools.cache
def hub_definition() -> dict[str, t.Any]:
    """tap-reviewrover.hub.yml, parsed."""
    return t.cast("dict[str, t.Any]", yaml.safe_load(HUB_FILE.read_text()))


@functools.cache
def about() -> dict[str, t.Any]:
    """What ``tap-reviewrover --about --format=json`` prints."""
    tap = Path(sys.executable).with_name("tap-reviewrover")
    completed = subprocess.run(
        [str(tap), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return t.cast("dict[str, t.Any]", json.loads(completed.stdout))


def plugin(kind: str, name: str) -> dict[str, t.Any]:
    """One plugin's definition in meltano.yml."""
    (found,) = [p for p in meltano_yml()["plugins"][kind] if p["name"] == name]
    return t.cast("dict[str, t.Any]", found)


def test_meltano_yml_is_valid_for_meltano() -> None:
    jsonschema.validate(meltano_yml(), meltano_schema())


#: Fields of the Hub's own (its search and its page) that meltano.yml has not.
HUB_ONLY_FIELDS = {"keywords", "domain_url", "maintenance_status"}


def test_the_hub_definition_is_a_valid_extractor_definition() -> None:
    definition = {k: v for k, v in hub_definition().items() if k not in HUB_ONLY_FIELDS}
    jsonschema.validate({"plugins": {"extractors": [definition]}}, meltano_schema())
    fields = {"name", "namespace", "variant", "label", "description", "docs", "repo"}
    fields |= {"pip_url", "executable", "capabilities", "settings", "logo_url"}
    assert fields | {"settings_group_validation"} | HUB_ONLY_FIELDS == set(
        hub_definition()
    )


def test_the_hub_page_has_the_vendors_site_a_logo_in_this_repository_and_a_status() -> (
    None
):
    hub = hub_definition()
    assert hub["domain_url"] == "https://dashboard.reviewrover.co"
    # The Hub's statuses: active, beta, development, inactive, unknown.
    assert hub["maintenance_status"] == "active"
    raw = "https://raw.githubusercontent.com/reviewrover/tap-reviewrover/main/"
    assert hub["logo_url"].startswith(raw)
    logo = ROOT / hub["logo_url"].removeprefix(raw)
    root = ET.fromstring(logo.read_text())  # noqa: S314 - our own file
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 64 64"  # square, as the Hub shows logos


def test_the_sdk_settings_of_each_capability_are_declared_with_their_kinds() -> None:
    # Without them, `meltano config set tap-reviewrover stream_maps '{...}'`
    # stores a string, which the tap rejects.
    expected = {
        "stream_maps": "object",  # stream-maps
        "stream_map_config": "object",
        "flattening_enabled": "boolean",  # schema-flattening
        "flattening_max_depth": "integer",
        "batch_config": "object",  # batch
        # Dates pass through as typed: the tap checks them itself.
        "start_date": "string",
        "end_date": "string",
    }
    for settings in (
        hub_definition()["settings"],
        plugin("extractors", "tap-reviewrover")["settings"],
    ):
        kinds = {setting["name"]: setting["kind"] for setting in settings}
        assert {name: kinds.get(name) for name in expected} == expected


def test_the_hub_definition_installs_the_tap_from_its_repository() -> None:
    hub, own = hub_definition(), plugin("extractors", "tap-reviewrover")
    assert hub["pip_url"] == f"git+{REPOSITORY}.git"
    assert hub["repo"] == REPOSITORY
    assert hub["docs"].startswith(REPOSITORY)
    for field in ("name", "namespace", "executable"):
        assert hub[field] == own[field]


def test_capabilities_are_exactly_what_the_tap_says_about_itself() -> None:
    capabilities = about()["capabilities"]
    assert plugin("extractors", "tap-reviewrover")["capabilities"] == capabilities
    assert hub_definition()["capabilities"] == capabilities


def test_the_required_settings_are_the_one_validation_group() -> None:
    required = [SETTINGS.to_dict()["required"]]
    assert required == [["auth_token"]]
    assert plugin("extractors", "tap-reviewrover")["settings_group_validation"] == (
        required
    )
    assert hub_definition()["settings_group_validation"] == required


def test_every_plugin_from_pypi_is_pinned() -> None:
    for kind in ("extractors", "loaders"):
        for entry in meltano_yml()["plugins"][kind]:
            if "inherit_from" in entry or entry["pip_url"] == "-e .":
                continue
            words = entry["pip_url"].split()
            # Besides PyPI releases: loader-guard and the constraints file, paths
            # in this repository (tests/test_loader_installs.py).
            releases = [
                word
                for before, word in zip(["", *words], words, strict=False)
                if before not in {"-e", "-c"} and not word.startswith("-")
            ]
            for requirement in releases:
                assert "==" in requirement, (entry["name"], requirement)


@pytest.mark.e2e
def test_prod_takes_the_token_from_the_environment_and_calls_the_real_api_url(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox)
    del project.env["TAP_REVIEWROVER_API_URL"]
    project.env["TAP_REVIEWROVER_AUTH_TOKEN"] = "rr-prod-token-from-env"  # noqa: S105
    printed = project.meltano(
        "--environment=prod", "config", "--unsafe", "print", "tap-reviewrover"
    ).check()
    config = json.loads(printed.log[printed.log.index("{") :])
    assert config["auth_token"] == "rr-prod-token-from-env"  # noqa: S105
    assert config["api_url"] == "https://dashboard.reviewrover.co/api"


@pytest.mark.e2e
def test_config_list_shows_the_auth_token_as_required(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox)
    del project.env["TAP_REVIEWROVER_AUTH_TOKEN"]
    listed = project.meltano("--environment=prod", "config", "list", "tap-reviewrover")
    required = listed.check().log.split("Required:\n", 1)[1].split("\n\n", 1)[0]
    assert "Required settings: auth_token" in listed.log
    assert required.startswith(
        "auth_token [env: TAP_REVIEWROVER_AUTH_TOKEN] current value: None"
    )


@pytest.mark.e2e
def test_config_test_with_a_wrong_token_fails_with_the_taps_message(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox)
    project.env["TAP_REVIEWROVER_AUTH_TOKEN"] = "rr-revoked-token-0c4e"  # noqa: S105
    tested = project.meltano("config", "test", "tap-reviewrover")
    assert tested.returncode == 1
    assert "Plugin configuration is invalid" in tested.log
    assert "ReviewRover rejected the API token (HTTP 401" in tested.log
    assert "rr-revoked-token-0c4e" not in tested.log
    project.env["TAP_REVIEWROVER_AUTH_TOKEN"] = sandbox.token
    tested = project.meltano("config", "test", "tap-reviewrover")
    assert "Plugin configuration is valid" in tested.check().log


@pytest.mark.e2e
def test_config_test_without_a_token_names_the_missing_setting(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox)
    del project.env["TAP_REVIEWROVER_AUTH_TOKEN"]
    tested = project.meltano("--environment=prod", "config", "test", "tap-reviewrover")
    assert tested.returncode == 1
    # Meltano shows the tap's last line after its own verdict.
    verdict = tested.log.split("Plugin configuration is invalid", 1)[1]
    assert (
        "'auth_token' is a required property: set TAP_REVIEWROVER_AUTH_TOKEN"
        in verdict.splitlines()[1]
    )
    assert sandbox.list_request_count == 0


@pytest.mark.e2e
def test_snowflake_is_configured_from_the_environment_alone(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox, **SNOWFLAKE_ENV)
    printed = project.meltano(
        "--environment=prod", "config", "--unsafe", "print", "target-snowflake"
    ).check()
    config = json.loads(printed.log[printed.log.index("{") :])
    from_env = {
        name.removeprefix("TARGET_SNOWFLAKE_").lower(): value
        for name, value in SNOWFLAKE_ENV.items()
    }
    assert config == {
        **from_env,
        "load_method": "upsert",
        "add_record_metadata": True,
        "hard_delete": False,
    }


@pytest.mark.e2e
def test_snowflake_settings_printed_safely_hide_the_password(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = MeltanoProject(tmp_path, sandbox, **SNOWFLAKE_ENV)
    printed = project.meltano(
        "--environment=prod", "config", "print", "target-snowflake"
    ).check()
    assert SNOWFLAKE_ENV["TARGET_SNOWFLAKE_PASSWORD"] not in printed.log
    assert SNOWFLAKE_ENV["TARGET_SNOWFLAKE_ACCOUNT"] in printed.log
