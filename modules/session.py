"""The start and end every experiment notebook shares: resolve the dataset, prepare it with the machine's seed,
choose full or quick settings, and at the end record dataset, configuration and metrics in the results JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from modules import paths
from modules.data import sources
from modules.data.identity import is_simulated
from modules.data.prepare import PreparedData, PrepareOptions, prepare
from modules.experiment import Experiment


@dataclass(frozen=True)
class Scale:
    """How much work a run does: the study's full settings, or quick mode for tests and a first look."""

    n_models: int
    n_epochs: int
    onecycle_lengths: tuple[int, int]
    """1cycle (up, down) lengths in epochs: the paper's (45, 90) fold-sized sub-epochs are (5, 10) epochs."""
    max_events: int | None
    simulated_events: int | None
    """Size of the simulated file to use when the dataset resolves to the simulation (None: the full 818,238)."""


FULL = Scale(n_models=10, n_epochs=15, onecycle_lengths=(5, 10), max_events=None, simulated_events=None)
QUICK = Scale(n_models=2, n_epochs=2, onecycle_lengths=(1, 1), max_events=4000, simulated_events=20000)


@dataclass
class Session:
    """One notebook run: its experiment record, prepared data, scale and scratch folders."""

    experiment: Experiment
    prepared: PreparedData
    scale: Scale
    source: sources.DataSource
    quick: bool
    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def weights_dir(self) -> Path:
        return self.workdir / "weights"

    @property
    def simulated(self) -> bool:
        return any(is_simulated(identity) for identity in self.prepared.dataset["files"])

    def finish(self) -> pd.DataFrame:
        """Record dataset, configuration and metrics in the results JSON and return the metrics as a table."""
        exp = self.experiment
        exp.dataset = {**self.prepared.dataset, "description": self.source.description, "simulated": self.simulated}
        exp.config = {"quick": self.quick, "scale": dataclasses.asdict(self.scale),
                      "prepare": self.prepared.options, **self.config}
        path = exp.save()
        print(f"results written to {path}")
        return metrics_table(exp.results)


def metrics_table(results: dict[str, Any]) -> pd.DataFrame:
    """Metrics as rows `value ± error` (the error only for mean-over-folds metrics)."""
    rows = []
    for name, value in results.items():
        if isinstance(value, (tuple, list)):
            rows.append((name, f"{value[0]:.4f} ± {value[1]:.4f}"))
        elif isinstance(value, float):
            rows.append((name, f"{value:.4f}"))
        else:
            rows.append((name, str(value)))
    return pd.DataFrame(rows, columns=["metric", "value"]).set_index("metric")


def results_dir(quick: bool) -> Path:
    """Full runs are the record in results/; quick runs go to results/quick/ so the two never mix."""
    return paths.RESULTS_DIR / "quick" if quick else paths.RESULTS_DIR


def start(name: str, machine: str, dataset: str = "auto", quick: bool = False,
          options: PrepareOptions | None = None) -> Session:
    """Resolve and prepare the data with the machine's seed, and open the experiment record."""
    scale = QUICK if quick else FULL
    experiment = Experiment(name, machine, results_dir=results_dir(quick))
    source = sources.resolve(dataset, events=scale.simulated_events)
    print(source.description)
    options = dataclasses.replace(options or PrepareOptions(), seed=experiment.seed, max_events=scale.max_events)
    prepared = prepare(source, options)
    rows = prepared.rows
    print(f"prepared {rows['train']} training, {rows['val']} validation and {rows['test']} test events "
          f"(seed {experiment.seed} of machine {machine}) in {prepared.folder}")
    workdir = paths.PROJECT_ROOT / "weights" / f"{name}_{machine}{'_quick' if quick else ''}"
    return Session(experiment, prepared, scale, source, quick, workdir)
