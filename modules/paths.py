"""Where the project keeps its data, results and notebooks: next to the package, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path


def _project_root() -> Path:
    """The checkout: the folder above this package (a clone, or `pip install -e .`), or, for a copy installed with
    `pip install .`, the checkout `higgsml` runs in: the current folder or the nearest above it holding the notebooks
    and machines.toml (a notebook's kernel runs in its own folder inside it)."""
    beside = Path(__file__).resolve().parent.parent
    if (beside / "notebooks").is_dir():
        return beside
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "machines.toml").is_file():
            return folder
    return beside


PROJECT_ROOT = _project_root()
DATA_DIR = Path(os.environ.get("HIGGSML_DATA_DIR", PROJECT_ROOT / "data"))
RESULTS_DIR = Path(os.environ.get("HIGGSML_RESULTS_DIR", PROJECT_ROOT / "results"))
WEIGHTS_DIR = Path(os.environ.get("HIGGSML_WEIGHTS_DIR", PROJECT_ROOT / "weights"))
"""Trained members and scratch files of each run (benchmarks point it elsewhere, so they never touch a real run's)."""
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
SHARED_DATA_DIR = Path(os.environ.get("HIGGSML_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
"""Where this workplace keeps real rows of the CERN file for tests and comparisons (absent elsewhere)."""
