"""The shape of core/: rooms that follow the data's flow, each importing only the rooms above it.

The order is the one core/__init__.py's docstring gives. These checks read
the source (no imports run), so they also see imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CORE = REPO_ROOT / "core"
# Room -> its rank; a module may import its own room and rooms of a lower rank.
RANKS = {
    **dict.fromkeys(("labels", "paths", "errors", "files", "progress", "quiet"), 0),
    "vision": 1,
    "data": 2,
    "networks": 3,
    "config": 4,
    "evaluation": 5,
    "runs": 6,
    "inference": 7,
    "training": 8,
    "explain": 9,
    "tuning": 9,
    "service": 9,
    "cli": 10,
    "__main__": 11,
}
# Modules that hold one job each stay readable in one sitting.
MAX_MODULE_LINES = 400


def core_modules() -> list[Path]:
    return sorted(path for path in CORE.rglob("*.py") if path.name != "__init__.py" or path.parent != CORE)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    return module.split(".")[1]


def imported_core_modules(path: Path, module_level_only: bool = False) -> set[str]:
    """The core modules `path` imports (`from core import runs` counts as core.runs)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("core.")}
        elif isinstance(node, ast.ImportFrom) and node.module and (node.module == "core" or node.module.startswith("core.")):
            # `from core.runs import lifecycle` imports the module core.runs.lifecycle; `from core.runs import load_run`, core.runs.
            found |= {
                f"{node.module}.{alias.name}" if is_module(f"{node.module}.{alias.name}") else node.module for alias in node.names
            }
    return found - {module_name(path)}


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (REPO_ROOT / relative.with_suffix(".py")).is_file() or (REPO_ROOT / relative / "__init__.py").is_file()


@pytest.mark.parametrize("path", core_modules(), ids=lambda path: str(path.relative_to(CORE)))
def test_a_module_imports_only_its_own_room_and_the_rooms_above_it(path):
    importer = room(module_name(path))
    upward = sorted(target for target in imported_core_modules(path) if RANKS[room(target)] > RANKS[importer])
    assert not upward, f"{module_name(path)} ({importer}) imports from a room below it: {upward}"


def test_the_ground_floor_imports_nothing_heavy():
    """labels is read by every room; it must not pull in numpy, pyarrow or TensorFlow."""
    tree = ast.parse((CORE / "labels.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__"}, imported


def test_no_module_level_import_cycle():
    graph = {module_name(path): imported_core_modules(path, module_level_only=True) for path in core_modules()}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done" or module not in graph:
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join([*trail, module])}"
        state[module] = "open"
        for target in sorted(graph[module]):
            visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_every_package_says_what_it_holds_and_what_it_may_import():
    for init in sorted(CORE.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in docstring, f"{init.relative_to(REPO_ROOT)} has no 'May import' line"


def test_modules_stay_readable_in_one_sitting():
    long = {
        str(path.relative_to(REPO_ROOT)): count
        for path in core_modules()
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"over {MAX_MODULE_LINES} lines: {long}"
