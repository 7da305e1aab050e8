"""The study's experiments as the notebooks folder holds them: one numbered folder per experiment with a notebook of
the same name, whose metadata says the paper's ID, what it adds and what it compares to. The command line, the
listing and the report all read the catalogue from here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modules import paths
from modules.errors import UserError


def number(name: str) -> int:
    """An experiment's number: the digits its folder name starts with."""
    return int(name.split("_")[0])


def experiments(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> dict[str, Path]:
    """Experiment name -> its notebook, for every numbered folder holding a notebook of the same name, in number
    order."""
    found = {}
    for folder in notebooks_dir.iterdir():
        notebook = folder / f"{folder.name}.ipynb"
        if folder.is_dir() and folder.name.split("_")[0].isdigit() and notebook.exists():
            found[folder.name] = notebook
    return dict(sorted(found.items(), key=lambda item: (number(item[0]), item[0])))


def experiment_info(notebook: Path) -> dict[str, Any]:
    """What a notebook's metadata says of its experiment: the paper's ID and name, what it adds and to which
    experiment it is compared (`metadata.higgsml`)."""
    try:
        return json.loads(notebook.read_text()).get("metadata", {}).get("higgsml", {})
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{notebook}: not a readable notebook: {err}") from None


def code_cells(notebook: Path) -> list[tuple[list[str], str]]:
    """(tags, source) of every code cell of a notebook, in order."""
    cells = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cells.append((cell.get("metadata", {}).get("tags", []), source))
    return cells


def find_experiment(spec: str, notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> tuple[str, Path]:
    """Accept the experiment's number ('13') or its full name; an unknown one lists what exists."""
    known = experiments(notebooks_dir)
    matches = [name for name in known if name == spec or name.split("_")[0] == spec]
    if len(matches) != 1:
        listing = ", ".join(known) or "none"
        raise UserError(f"no experiment {spec!r} in {notebooks_dir}; available: {listing}")
    return matches[0], known[matches[0]]
