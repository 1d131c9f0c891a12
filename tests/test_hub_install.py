"""End to end: a brand-new Meltano project, as the README's snippet makes it.

It adds the tap from tap-reviewrover.hub.yml and a loader, sets a stream map with
``meltano config set`` and loads PostgreSQL. The Hub file's ``pip_url`` (this
repository on GitHub) is replaced by this checkout's path, so that the test
installs the code under test, built from source as pip would from the
repository; the loader comes from a definition file instead of the Hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t

import pytest
import yaml

from tests.meltano_project import MELTANO, ROOT, RUN_TIMEOUT_SECONDS

if t.TYPE_CHECKING:
    from pathlib import Path

    import psycopg
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


#: The stream map the test sets: one field dropped, one added from an expression.
STREAM_MAPS = {
    "enrollments": {"contact_id": "__NULL__", "campaign_key": "campaign_id.upper()"}
}


def hub_loader_definition() -> dict[str, t.Any]:
    """target-postgres as the Hub defines it (meltanolabs), pinned as we pin it.

    The test has no Meltano Hub to look it up in: this stands in for
    ``meltano add loader target-postgres --variant meltanolabs``.
    """
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (ours,) = [
        p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres"
    ]
    constraints = ROOT / "loaders" / "constraints" / "target-postgres.txt"
    return {
        "name": "target-postgres",
        "namespace": "target_postgres",
        "variant": "meltanolabs",
        "pip_url": f"meltanolabs-target-postgres==0.8.1 -c {constraints}",
        "executable": "target-postgres",
        "capabilities": [c for c in ours["capabilities"] if c != "structured-logging"],
        "settings": ours["settings"],
    }


def test_the_readmes_new_project_adds_the_tap_and_a_loader_and_runs_a_stream_map(
    tmp_path: Path,
    sandbox: SandboxServer,
    postgres: psycopg.Connection[tuple[t.Any, ...]],
    schema: str,
) -> None:
    own = ("TAP_REVIEWROVER", "TARGET_", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "MELTANO_VENV_BACKEND": "uv"}
    definition = yaml.safe_load((ROOT / "tap-reviewrover.hub.yml").read_text())
    definition["pip_url"] = str(ROOT)
    reference = tmp_path / "tap-reviewrover.hub.yml"
    reference.write_text(yaml.safe_dump(definition, sort_keys=False))
    loader = tmp_path / "target-postgres.yml"
    loader.write_text(yaml.safe_dump(hub_loader_definition(), sort_keys=False))

    # The README's steps, as printed (the loader from a file, not the Hub).
    run([str(MELTANO), "init", "analytics", "--no-usage-stats"], tmp_path, env)
    project = tmp_path / "analytics"
    run(
        [str(MELTANO), "add", "tap-reviewrover", "--from-ref", str(reference)],
        project,
        env,
    )
    run(
        [str(MELTANO), "add", "loader", "target-postgres", "--from-ref", str(loader)],
        project,
        env,
    )

    plugins = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    (added,) = plugins["extractors"]
    for field in ("capabilities", "settings", "settings_group_validation"):
        assert added[field] == definition[field]
    listed = run([str(MELTANO), "config", "list", "tap-reviewrover"], project, env)
    assert "Required settings: auth_token" in listed

    # The Hub file declares stream_maps as an object: `config set` stores one.
    maps = json.dumps(STREAM_MAPS)
    set_maps = [str(MELTANO), "config", "set", "tap-reviewrover", "stream_maps", maps]
    run(set_maps, project, env)
    meltano_yml = yaml.safe_load((project / "meltano.yml").read_text())
    (tap,) = meltano_yml["plugins"]["extractors"]
    assert tap["config"]["stream_maps"] == STREAM_MAPS

    env |= {
        "TAP_REVIEWROVER_API_URL": sandbox.url,
        "TAP_REVIEWROVER_AUTH_TOKEN": sandbox.token,
        "TARGET_POSTGRES_HOST": "127.0.0.1",
        "TARGET_POSTGRES_USER": "postgres",
        "TARGET_POSTGRES_PASSWORD": "postgres",
        "TARGET_POSTGRES_DATABASE": "test",
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
    }
    run([str(MELTANO), "config", "test", "tap-reviewrover"], project, env)
    run([str(MELTANO), "run", "tap-reviewrover", "target-postgres"], project, env)

    columns = {
        row[0]
        for row in postgres.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = 'enrollments'",
            (schema,),
        )
    }
    assert "contact_id" not in columns
    loaded = postgres.execute(
        f"select id, campaign_key from {schema}.enrollments order by id"  # noqa: S608 - own name
    ).fetchall()
    assert loaded == [
        (record["id"], record["campaign_id"].upper())
        for record in sorted(sandbox.store.all_records(), key=lambda r: r["id"])
    ]
