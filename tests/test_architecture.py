"""The shape of the engine: small modules, a thin stream, no import cycle.

See README, "How it works". These limits are what keeps each part readable in a few
minutes and each rule in one place; a change that breaks one should split a
module, not raise the limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tap_reviewrover.tap import TapReviewRover
from tap_reviewrover.walkers import STRATEGIES

PACKAGE = Path(__file__).resolve().parent.parent / "tap_reviewrover"
#: Lines any module may have, and the few that have a tighter limit.
MAX_LINES = 400
TIGHTER = {"client.py": 250, "tap.py": 300}


def modules() -> dict[str, Path]:
    """The package's modules by dotted name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules a module imports, under TYPE_CHECKING too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(
                name
                for name in (
                    node.module,
                    *(f"{node.module}.{a.name}" for a in node.names),
                )
                if name in known
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
    return found


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_is_small(name: str) -> None:
    path = modules()[name]
    limit = TIGHTER.get(path.name, MAX_LINES) if path.parent == PACKAGE else MAX_LINES
    lines = len(path.read_text().splitlines())
    assert lines <= limit, f"{name} has {lines} lines (at most {limit})"


def test_no_module_imports_itself_back() -> None:
    found = modules()
    graph = {name: imports_of(path, set(found)) for name, path in found.items()}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        seen = {start}
        while stack:
            node, path = stack.pop()
            for target in graph[node]:
                if target == start:
                    cycles.append(" -> ".join([*path, target]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert cycles == []


def test_a_cycle_would_be_found() -> None:
    # The check above sees imports under TYPE_CHECKING (as ast does).
    graph_module = PACKAGE / "walkers" / "full_scan.py"
    assert "tap_reviewrover.paging" in imports_of(graph_module, set(modules()))


def test_the_strategy_setting_offers_exactly_the_walkers() -> None:
    # A new walk strategy: one module in walkers/, one entry in STRATEGIES, and
    # its name among the setting's values (this test says when one is missing).
    setting = TapReviewRover.config_jsonschema["properties"]["incremental_strategy"]
    assert setting["enum"] == list(STRATEGIES)
    assert setting["default"] in STRATEGIES
