"""The settings table, meltano-facing files and samples follow the config schema."""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

from tap_reviewrover.tap import SETTINGS, TapReviewRover

if t.TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).parent.parent
OWN_SETTINGS = set(SETTINGS.to_dict()["properties"])


def test_the_readme_settings_table_is_the_one_about_prints(
    capfd: pytest.CaptureFixture[str],
) -> None:
    TapReviewRover.print_about("markdown")
    about = capfd.readouterr().out
    table = re.search(r"\| Setting \|.*?\n\n", about, re.DOTALL)
    assert table is not None
    readme = (ROOT / "README.md").read_text()
    documented = re.search(
        r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, re.DOTALL
    )
    assert documented is not None
    assert documented.group(1).strip() == table.group(0).strip()


def test_sample_config_has_every_setting_and_only_placeholders() -> None:
    sample = json.loads((ROOT / "sample_config.json").read_text())
    assert set(sample) == OWN_SETTINGS
    assert sample["auth_token"] == "YOUR_REVIEWROVER_API_TOKEN"  # noqa: S105 - a placeholder
    TapReviewRover(config=sample, parse_env_config=False)  # it validates
