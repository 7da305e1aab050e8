"""What the Results_Viewing notebook shows: for one dataset, each experiment's result with its comparison to the
experiment it adds to (here and in the paper), in the study's order, then the summary plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modules.results.comparison import ExpComp
from modules.results.paper import paper_result
from modules.results.records import Dataset, load_records
from modules.results.report import chosen, group_results, slug
from modules.results.result import Result
from modules.results.study import Step, steps


def show(obj: Any) -> None:
    """Display in a notebook, print elsewhere."""
    try:
        from IPython.display import display

        display(obj)
    except ImportError:
        print(obj)


class Viewer:
    """The results of one dataset in `results_dir`: `dataset='auto'` takes the one with the most experiments."""

    def __init__(self, results_dir: Path, blind: bool = True, dataset: str = "auto") -> None:
        records, skipped = load_records(Path(results_dir))
        for line in skipped:
            print(line)
        grouped = group_results(records, blind)
        if dataset != "auto":
            grouped = {d: r for d, r in grouped.items() if chosen(d, dataset)}
        self.blind, self.study = blind, steps()
        self.dataset: Dataset | None = max(grouped, key=lambda d: len(grouped[d]), default=None)
        self.results: dict[str, Result] = grouped.get(self.dataset, {}) if self.dataset else {}
        others = [f"{d.label} ({len(r)} experiments)" for d, r in grouped.items() if d != self.dataset]
        print(f"showing {self.dataset.label if self.dataset else 'nothing: no results found'}"
              + (f"; also present: {'; '.join(others)}" if others else "")
              + ("; blind: private scores hidden" if blind else ""))

    def step(self, name: str) -> Step | None:
        return next((s for s in self.study if s.name == name), None)

    def comparison(self, name: str) -> pd.DataFrame | None:
        """This experiment against the one it adds to, here and in the paper, side by side."""
        step, here = self.step(name), self.results.get(name)
        if step is None or here is None or not step.compare_to or step.compare_to not in self.results:
            return None
        ours = here.compare_to(self.results[step.compare_to])[["this", "other", "change"]]
        paper_now, paper_before = paper_result(name, self.blind), paper_result(step.compare_to, self.blind)
        if paper_now is not None and paper_before is not None:
            theirs = paper_now.compare_to(paper_before)[["change"]].rename(columns={"change": "paper's change"})
            ours = ours.join(theirs, how="left")
        return ours

    def show_experiment(self, step: Step) -> None:
        here = self.results.get(step.name)
        if here is None:
            print(f"{step.name}: no result for this dataset, skipped")
            return
        print(repr(here).splitlines()[0])
        show(here.table()[["value", "n"]])
        comparison = self.comparison(step.name)
        if comparison is not None:
            print(f"{step.tag}: against {step.compare_to}")
            show(comparison)

    def show_all(self) -> None:
        """Every experiment in the study's order; one line for each that has no result here."""
        for step in self.study:
            self.show_experiment(step)

    def summary_plots(self, out_dir: Path) -> list[Path]:
        """The AMS evolution and the times over the experiments present, saved under `out_dir` and shown."""
        present = [s for s in self.study if s.name in self.results]
        if not present or self.dataset is None:
            print("no results to plot")
            return []
        comp = ExpComp([self.results[s.name] for s in present],
                       {s.name: p for s in present if (p := paper_result(s.name, self.blind)) is not None},
                       labels=[s.label for s in present])
        stem = Path(out_dir) / slug(self.dataset.label)
        written = [*comp.plot_ams(stem.with_name(stem.name + "_ams")),
                   *comp.plot_times(stem.with_name(stem.name + "_train_time")),
                   *comp.plot_times(stem.with_name(stem.name + "_train_time_frac"), mode="frac"),
                   *comp.plot_times(stem.with_name(stem.name + "_test_time"), "test_time")]
        try:
            from IPython.display import Image, display

            for path in written:
                if path.suffix == ".png":
                    display(Image(filename=str(path)))
        except ImportError:
            pass
        print("\n".join(comp.latex_rows()))
        return written
