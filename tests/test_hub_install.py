"""End to end: a brand-new Meltano project adds the tap from tap-reviewrover.hub.yml.

The Hub file's ``pip_url`` (this repository on GitHub) is replaced by this
checkout's path, so that the test installs the code under test, and builds it
from source as pip would from the repository.
"""

from __future__ import annotations

import os
import subprocess
import typing as t

import pytest
import yaml

from tests.conftest import parse_messages
from tests.meltano_project import MELTANO, ROOT, RUN_TIMEOUT_SECONDS

if t.TYPE_CHECKING:
    from pathlib import Path

    from reviewrover_sandbox import SandboxServer

#: These run `meltano` end to end: `pytest -m "not e2e"` leaves them out.
pytestmark = pytest.mark.e2e


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command that must succeed; return its standard output."""
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-5000:]
    return completed.stdout


def test_a_new_project_adds_installs_and_runs_the_tap_from_the_hub_file(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    own = ("TAP_REVIEWROVER", "TARGET_", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "MELTANO_VENV_BACKEND": "uv"}
    definition = yaml.safe_load((ROOT / "tap-reviewrover.hub.yml").read_text())
    definition["pip_url"] = str(ROOT)
    reference = tmp_path / "tap-reviewrover.hub.yml"
    reference.write_text(yaml.safe_dump(definition, sort_keys=False))

    run([str(MELTANO), "init", "analytics", "--no-usage-stats"], tmp_path, env)
    project = tmp_path / "analytics"
    add = [str(MELTANO), "add", "tap-reviewrover", "--from-ref", str(reference)]
    run(add, project, env)

    plugins = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    assert list(plugins) == ["extractors"]
    (added,) = plugins["extractors"]
    for field in ("capabilities", "settings", "settings_group_validation"):
        assert added[field] == definition[field]
    listed = run([str(MELTANO), "config", "list", "tap-reviewrover"], project, env)
    assert "Required settings: auth_token" in listed

    env |= {
        "TAP_REVIEWROVER_API_URL": sandbox.url,
        "TAP_REVIEWROVER_AUTH_TOKEN": sandbox.token,
    }
    output = run([str(MELTANO), "invoke", "tap-reviewrover"], project, env)
    records = [m["record"] for m in parse_messages(output) if m["type"] == "RECORD"]
    assert records == sandbox.store.all_records()
