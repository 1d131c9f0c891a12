"""The settings table, meltano-facing files and samples follow the config schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_reviewrover.settings import SETTINGS
from tap_reviewrover.tap import TapReviewRover

ROOT = Path(__file__).parent.parent
OWN_SETTINGS = set(SETTINGS.to_dict()["properties"])


def test_every_file_that_lists_the_settings_follows_the_config_schema() -> None:
    # The README table, sample_config.json, meltano.yml and the Hub definition.
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_settings.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, (
        "run scripts/sync_settings.py; out of step:\n" + completed.stdout
    )


def test_sample_config_has_every_setting_and_only_placeholders() -> None:
    sample = json.loads((ROOT / "sample_config.json").read_text())
    assert set(sample) == OWN_SETTINGS
    assert sample["auth_token"] == "YOUR_REVIEWROVER_API_TOKEN"  # noqa: S105 - a placeholder
    # Its placeholder token is refused, alone: with a token in its place, it is valid.
    with pytest.raises(ConfigValidationError) as refused:
        TapReviewRover(config=sample, parse_env_config=False)
    assert len(refused.value.errors) == 1
    assert "auth_token is a placeholder" in refused.value.errors[0]
    TapReviewRover(
        config={**sample, "auth_token": "rr_live_9f8e7d6c5b4a"}, parse_env_config=False
    )
