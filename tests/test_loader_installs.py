"""Loader installs repeat: every package pinned by a committed constraints file.

Each loader's ``pip_url`` (meltano.yml) names its release and a constraints file
that scripts/refresh_constraints.py writes; loader-guard comes from this
repository. The venv `meltano install --clean` made (scripts/install_plugins)
holds exactly the pinned packages, and a second fresh install holds the same.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
import sys
import typing as t

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.meltano_project import ROOT

if t.TYPE_CHECKING:
    from pathlib import Path

GUARD = f"-e file://{ROOT / 'loaders' / 'guard'}"


@functools.cache
def loaders() -> dict[str, dict[str, t.Any]]:
    """meltano.yml's loaders, by name."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return {plugin["name"]: plugin for plugin in project["plugins"]["loaders"]}


def uv() -> str:
    """uv, as scripts/setup provides it."""
    found = shutil.which("uv") or shutil.which("uv", path=str(ROOT / ".tools" / "bin"))
    assert found, "uv is missing: run scripts/setup"
    return found


def freeze(python: Path) -> list[str]:
    """``uv pip freeze`` of a venv, one package a line, sorted."""
    completed = subprocess.run(
        [uv(), "pip", "freeze", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return sorted(completed.stdout.splitlines())


def pinned_here(constraints: Path) -> list[str]:
    """The ``name==version`` pins of a constraints file that apply to this Python."""
    pins = []
    for line in constraints.read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            pins.append(f"{canonicalize_name(requirement.name)}=={specifier.version}")
    return sorted(pins)


def installed_pins(python: Path) -> list[str]:
    """A venv's packages as normalised pins, loader-guard (this repository) aside."""
    pins = []
    for line in freeze(python):
        if line == GUARD:
            continue
        name, version = line.split("==")
        pins.append(f"{canonicalize_name(name)}=={version}")
    return sorted(pins)


@pytest.mark.parametrize("name", sorted(loaders()))
def test_a_loader_installs_its_release_from_its_constraints_with_loader_guard(
    name: str,
) -> None:
    plugin = loaders()[name]
    words = shlex.split(plugin["pip_url"])
    assert words[-4:] == [
        "-e",
        "./loaders/guard",
        "-c",
        f"loaders/constraints/{name}.txt",
    ]
    assert all("==" in release for release in words[:-4])
    assert plugin["executable"] == "loader-guard"
    assert plugin["env"] == {"LOADER_GUARD_COMMAND": name}
    assert "structured-logging" in plugin["capabilities"]


def test_every_constraints_file_pins_its_loaders_release() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "refresh_constraints.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout


@pytest.mark.parametrize("name", sorted(loaders()))
def test_the_installed_loader_holds_exactly_the_pinned_packages(name: str) -> None:
    python = ROOT / ".meltano" / "loaders" / name / "venv" / "bin" / "python"
    assert python.exists(), "run scripts/install_plugins"
    constraints = ROOT / "loaders" / "constraints" / f"{name}.txt"
    assert installed_pins(python) == pinned_here(constraints)
    assert GUARD in freeze(python)


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(loaders()))
def test_a_second_fresh_install_freezes_the_same(name: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        timeout=120,
    )
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *shlex.split(loaders()[name]["pip_url"]),
        ],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    meltanos = ROOT / ".meltano" / "loaders" / name / "venv" / "bin" / "python"
    assert freeze(venv / "bin" / "python") == freeze(meltanos)
