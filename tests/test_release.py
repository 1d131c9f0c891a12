"""The release files: a wheel and an sdist of the tap alone, that PyPI would take.

Both are built from this checkout with `python -m build` (hatchling, in an
isolated environment) into a temporary directory, and checked with `twine check`.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import typing as t
import zipfile
from email.parser import Parser

import pytest

from tests.meltano_project import ROOT

if t.TYPE_CHECKING:
    from pathlib import Path

VERSION = "0.1.0"
#: The tap's modules, as the repository has them.
MODULES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in (ROOT / "tap_reviewrover").rglob("*.py")
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the wheel and the sdist are built into."""
    out = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--installer=uv", "--outdir", str(out), ROOT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def built(dist: Path, pattern: str) -> Path:
    """The one file in ``dist`` matching ``pattern``."""
    (path,) = dist.glob(pattern)
    return path


def test_the_wheel_holds_the_tap_and_its_metadata_only(dist: Path) -> None:
    with zipfile.ZipFile(built(dist, "*.whl")) as wheel:
        names = wheel.namelist()
        metadata = Parser().parsestr(
            wheel.read(f"tap_reviewrover-{VERSION}.dist-info/METADATA").decode()
        )
        entry_points = wheel.read(
            f"tap_reviewrover-{VERSION}.dist-info/entry_points.txt"
        ).decode()
    info = f"tap_reviewrover-{VERSION}.dist-info"
    metadata_files = ["METADATA", "RECORD", "WHEEL", "entry_points.txt"]
    assert sorted(names) == sorted(
        MODULES
        + [f"{info}/{name}" for name in metadata_files]
        + [f"{info}/licenses/LICENSE"]
    )
    assert metadata["Name"] == "tap-reviewrover"
    assert metadata["License-Expression"] == "Apache-2.0"
    assert entry_points.split() == [
        "[console_scripts]",
        "tap-reviewrover",
        "=",
        "tap_reviewrover.tap:main",
    ]


def test_the_sdist_holds_the_tap_readme_licence_and_changelog_only(
    dist: Path,
) -> None:
    with tarfile.open(built(dist, "*.tar.gz")) as sdist:
        names = [member.name for member in sdist.getmembers() if member.isfile()]
    top = f"tap_reviewrover-{VERSION}"
    files = ["CHANGELOG.md", "LICENSE", "PKG-INFO", "README.md", "pyproject.toml"]
    # hatchling always adds the .gitignore it read its exclusions from.
    files.append(".gitignore")
    assert sorted(names) == sorted(
        [f"{top}/{name}" for name in MODULES] + [f"{top}/{name}" for name in files]
    )


def test_twine_accepts_both(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_changelog_keeps_an_unreleased_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in changelog
    assert "\n## [Unreleased]\n" in changelog
    assert changelog.split("## [Unreleased]")[1].strip()


def test_the_licence_is_the_apache_2_0_text() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
