"""The study's sequence: every experiment in order with what it adds (a short tag) and the experiment it is compared
with, as each notebook's metadata states them — so the report and the viewing notebook follow the notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modules import paths
from modules.catalogue import experiment_info, experiments, number


@dataclass(frozen=True)
class Step:
    name: str
    number: int
    paper_name: str
    tag: str
    compare_to: str | None

    @property
    def label(self) -> str:
        """Short name for axes and tables: number and what it adds, e.g. '13 +dense'."""
        return f"{self.number} {self.tag}"


def steps(notebooks_dir: Path | None = None) -> list[Step]:
    """Every experiment notebook, in number order."""
    found = experiments(paths.NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir)
    out = []
    for name, notebook in found.items():
        info = experiment_info(notebook)
        out.append(Step(name, number(name), info.get("paper_name", ""), info.get("tag", name.split("_", 1)[-1]),
                        info.get("compare_to") or None))
    return out
