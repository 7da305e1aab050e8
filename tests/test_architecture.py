"""The package's layers: command-line code (argparse, `main`) lives in `modules/commands/` and `modules/cli.py` only,
no library module imports it, and no two files of `modules/` import each other, directly or round a loop (imports
inside functions count too). The walk reads the files with `ast` and imports none of them.

An import names a file: `from modules.a import b` is an edge to `modules/a/b.py` when `b` is a module, else to
`modules/a.py` (or `modules/a/__init__.py`); relative imports are resolved the same way. The package `__init__` files
Python runs on the way are not edges: they only re-export what their modules define.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from modules import paths

ROOT = paths.PROJECT_ROOT
COMMAND_LAYER = ("modules.cli", "modules.commands")
"""The modules that turn a command line into calls of the library, and every module below them."""


def in_command_layer(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in COMMAND_LAYER)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every file of `modules/` under `root`."""
    return {module_name(path, root): path for path in sorted((root / "modules").rglob("*.py"))}


def imports(path: Path, name: str) -> list[tuple[str, list[str]]]:
    """Every import statement of the file, anywhere in its body, as (the module named, the names taken from it);
    relative imports resolved against the file's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.append((module, [alias.name for alias in node.names]))
    return found


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of `modules/` that the file imports (top level or inside functions)."""
    out = set()
    for module, names in imports(path, name):
        if not names:
            out |= {module} & known
        elif module in known:
            out |= {f"{module}.{n}" if f"{module}.{n}" in known else module for n in names}
    return out - {name}


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = package_files(root)
    return {name: imported(path, name, set(files)) for name, path in files.items()}


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


def layer_violations(root: Path = ROOT) -> list[str]:
    """Each library module (outside the command layer) that imports argparse or a command module, with what."""
    wrong = []
    for name, path in package_files(root).items():
        if in_command_layer(name):
            continue
        for module, _ in imports(path, name):
            if module == "argparse" or module.startswith("argparse."):
                wrong.append(f"{name} imports argparse")
            elif in_command_layer(module):
                wrong.append(f"{name} imports {module}")
    return sorted(set(wrong))


def test_the_cycle_finder_finds_a_loop_and_passes_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_two_files_of_the_package_import_each_other() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_function_level_imports_count() -> None:
    edges = graph()
    assert "modules.batched.engine" in edges["modules.training.engines"], "the batched engine is imported lazily"


def test_no_library_module_imports_argparse_or_a_command_module() -> None:
    wrong = layer_violations()
    assert not wrong, "command-line code outside modules/commands/: " + "; ".join(wrong)


def test_the_checks_catch_a_planted_command_import_argparse_and_loop(tmp_path: Path) -> None:
    """A small tree with each fault planted, relative imports and imports inside functions among them."""
    files = {"modules/__init__.py": "", "modules/cli.py": "import argparse\nfrom modules.commands import go\n",
             "modules/commands/__init__.py": "", "modules/commands/go.py": "import argparse\n",
             "modules/a.py": "def f():\n    from .commands import go\n",
             "modules/b/__init__.py": "", "modules/b/c.py": "from argparse import Namespace\nfrom .. import d\n",
             "modules/d.py": "def g():\n    import modules.b.c\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert layer_violations(tmp_path) == ["modules.a imports modules.commands", "modules.b.c imports argparse"]
    assert find_cycle(graph(tmp_path)) == ["modules.b.c", "modules.d", "modules.b.c"]


@pytest.mark.parametrize("registry", ["modules.cli:COMMANDS", "modules.commands.data:DATA_COMMANDS"])
def test_every_subcommand_is_a_module_of_the_command_layer(registry: str) -> None:
    module, _, name = registry.partition(":")
    entries = getattr(importlib.import_module(module), name)
    known = package_files()
    assert {command: target for command, (target, _) in entries.items()
            if not (in_command_layer(target) and target in known)} == {}
