"""Write each loader's constraints file: every package its release brings, pinned.

A loader's ``pip_url`` in meltano.yml names its release (such as
``meltanolabs-target-postgres==0.8.1``) and ``-c loaders/constraints/NAME.txt``.
This script resolves those releases with uv (``uv pip compile --universal``, for
every Python the project supports) and writes the files, so that ``meltano
install`` puts the same packages in a loader's venv on every machine, whatever
was released since. Existing pins are kept unless ``--upgrade`` is given.

Usage::

    .venv/bin/python scripts/refresh_constraints.py            # write every file
    .venv/bin/python scripts/refresh_constraints.py --upgrade  # newest releases
    .venv/bin/python scripts/refresh_constraints.py --check    # offline check
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: The oldest Python the project supports (pyproject.toml): the resolution holds
#: for it and every later one.
PYTHON_VERSION = "3.10"
#: A pinned requirement: ``name==version``.
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>\S+)"
)


@dataclass(frozen=True)
class Loader:
    """A loader of meltano.yml, as its ``pip_url`` installs it."""

    name: str
    releases: tuple[str, ...]
    constraints: Path

    @classmethod
    def from_plugin(cls, plugin: dict[str, t.Any]) -> Loader:
        """Read a loader's definition.

        Args:
            plugin: Its entry in meltano.yml.

        Returns:
            The loader.

        Raises:
            ValueError: If its pip_url names no constraints file.
        """
        words = shlex.split(plugin["pip_url"])
        if "-c" not in words:
            msg = f"{plugin['name']}: pip_url has no -c CONSTRAINTS_FILE"
            raise ValueError(msg)
        constraints = words[words.index("-c") + 1]
        releases = tuple(word for word in words if PIN.match(word))
        return cls(plugin["name"], releases, ROOT / constraints)


def loaders() -> list[Loader]:
    """The loaders of meltano.yml that install from PyPI."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return [
        Loader.from_plugin(plugin)
        for plugin in project["plugins"]["loaders"]
        if "pip_url" in plugin
    ]


def pins(text: str) -> dict[str, str]:
    """The ``name==version`` lines of a constraints file, by normalised name."""
    found = {}
    for line in text.splitlines():
        if match := PIN.match(line.strip()):
            found[normalise(match["name"])] = match["version"]
    return found


def normalise(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def uv() -> str:
    """uv: on PATH, or where scripts/setup installed it."""
    found = shutil.which("uv") or shutil.which("uv", path=str(ROOT / ".tools" / "bin"))
    if found is None:
        sys.exit("uv is needed: run scripts/setup")
    return found


def compile_constraints(loader: Loader, *, upgrade: bool) -> None:
    """Resolve a loader's releases and write its constraints file."""
    loader.constraints.parent.mkdir(parents=True, exist_ok=True)
    command = [
        uv(),
        "pip",
        "compile",
        "-",
        "--universal",
        f"--python-version={PYTHON_VERSION}",
        f"--output-file={loader.constraints}",
        "--custom-compile-command=.venv/bin/python scripts/refresh_constraints.py",
        "--quiet",
    ]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(  # noqa: S603 - uv, with this project's files
        command, input="\n".join(loader.releases) + "\n", text=True, check=True
    )
    print(f"Wrote {loader.constraints.relative_to(ROOT)}")


def problems(loader: Loader) -> list[str]:
    """Why a loader's constraints file does not fit its pip_url, if it does not."""
    where = loader.constraints.relative_to(ROOT)
    if not loader.constraints.is_file():
        return [f"{loader.name}: {where} is missing"]
    pinned = pins(loader.constraints.read_text())
    found = []
    for release in loader.releases:
        match = PIN.match(release)
        assert match is not None  # noqa: S101 - releases are pins
        name, version = normalise(match["name"]), match["version"]
        if pinned.get(name) != version:
            found.append(
                f"{loader.name}: {where} pins {name} at {pinned.get(name)}, "
                f"pip_url at {version}"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, check) every loader's constraints file.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        0, or 1 when --check found a problem.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="change nothing")
    action.add_argument("--upgrade", action="store_true", help="take new releases")
    args = parser.parse_args(argv)
    if args.check:
        found = [problem for loader in loaders() for problem in problems(loader)]
        print("\n".join(found or ["Every loader's constraints fit its pip_url."]))
        return 1 if found else 0
    for loader in loaders():
        compile_constraints(loader, upgrade=args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
