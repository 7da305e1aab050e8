"""The package's shape: no two files of `modules/` import each other, directly or round a loop (imports inside
functions count too), and no library module imports a command module.

An import names a file: `from modules.a import b` is an edge to `modules/a/b.py` when `b` is a module, else to
`modules/a.py` (or `modules/a/__init__.py`). The package `__init__` files Python runs on the way are not edges: they
only re-export what their modules define.
"""

from __future__ import annotations

import ast
from pathlib import Path

from modules import paths

ROOT = paths.PROJECT_ROOT
PACKAGE = ROOT / "modules"
COMMANDS = {"modules.cli", "modules.commands", "modules.commands.info", "modules.commands.list",
            "modules.commands.options", "modules.commands.report", "modules.commands.run", "modules.commands.search",
            "modules.commands.data", "modules.commands.data.check", "modules.commands.data.compare_real",
            "modules.commands.data.fetch", "modules.commands.data.prepare", "modules.commands.data.simulate",
            "modules.commands.paper_build"}
"""Modules that only turn a command line into calls of the library (argparse, `main`): nothing else imports them."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def known_modules() -> set[str]:
    return {module_name(path) for path in PACKAGE.rglob("*.py")}


def imported(path: Path, known: set[str]) -> set[str]:
    """The modules of `modules/` that the file imports anywhere in its body (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module in known:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in known else node.module)
    return out - {module_name(path)}


def graph() -> dict[str, set[str]]:
    known = known_modules()
    return {module_name(path): imported(path, known) for path in PACKAGE.rglob("*.py")}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import loop of the graph as the modules round it, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_loop_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_two_files_of_the_package_import_each_other() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_function_level_imports_count() -> None:
    edges = graph()
    assert "modules.batched.engine" in edges["modules.training.engines"], "the batched engine is imported lazily"


def test_no_library_module_imports_a_command_module() -> None:
    edges = graph()
    assert COMMANDS <= set(edges), "every command module named exists"
    wrong = {f"{name} imports {target}" for name, targets in edges.items() if name not in COMMANDS
             for target in targets & COMMANDS}
    assert not wrong, sorted(wrong)
