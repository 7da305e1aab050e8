"""The start and end every experiment notebook shares: know the experiment from its folder, resolve the dataset,
prepare it with the machine's seed, choose full or quick settings, train and score with the study's semantics, and
at the end record dataset, configuration and metrics in the results JSON."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from modules import evaluation, locks, training
from modules.data import sources
from modules.data.identity import is_simulated
from modules.data.prepare import PreparedData, PrepareOptions, prepare
from modules.errors import UserError
from modules.experiment import Experiment, metrics_table, results_dir, run_label, run_lock, run_title, workdir_for
from modules.models.describe import describe_model
from modules.models.ensembles import describe_ensemble
from modules.models.original import SUB_EPOCHS_PER_EPOCH
from modules.progress import FILE, Progress
from modules.record import RunSpec

EXPERIMENT_FOLDER = re.compile(r"^\d+_\S+$")


@dataclass(frozen=True)
class Scale:
    """How much work a run does: the study's full settings, or quick mode for tests and a first look.

    Notebooks state the study's numbers (epochs; cycle, warm-up and SWA lengths in sub-epochs or cycles, as the
    original did) and pass them through these methods, so quick mode shrinks every one of them the same way: at most
    `quick_models` members and `quick_epochs` epochs, schedule lengths divided by the 9 sub-epochs of an epoch (at
    least 2), no early stopping.
    """

    quick: bool
    n_models: int
    """Members of an ensemble unless the notebook says otherwise (the study's 10)."""
    max_events: int | None
    simulated_events: int | None
    """Size of the simulated file to use when the dataset resolves to the simulation (None: the full 818,238)."""
    quick_epochs: int = 2

    def models(self, n: int) -> int:
        return min(n, self.n_models)

    def epochs(self, n: int, quick: int | None = None) -> int:
        """`n` epochs; in quick mode `quick` (default: `quick_epochs`) or fewer."""
        return min(n, quick or self.quick_epochs) if self.quick else n

    def cycle(self, n: int) -> int:
        """A length within the schedule (sub-epochs of a cycle or warm-up, SWA start and renewal): `n`, or in quick
        mode `n` / 9 rounded, at least 2 so a cycle still has a shape (1cycle's (45, 90) becomes (5, 10), within quick
        mode's 18 sub-epochs)."""
        return max(2, round(n / SUB_EPOCHS_PER_EPOCH)) if self.quick else n

    def patience(self, n: int | None) -> int | None:
        """Early-stopping patience: `n`, or none in quick mode (too few epochs for it to mean anything)."""
        return None if self.quick else n


FULL = Scale(quick=False, n_models=10, max_events=None, simulated_events=None)
QUICK = Scale(quick=True, n_models=2, max_events=4000, simulated_events=20000)


@dataclass
class Session:
    """One notebook run: its experiment record, prepared data, scale and scratch folders."""

    experiment: Experiment
    prepared: PreparedData
    scale: Scale
    source: sources.DataSource
    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)
    lock: Any = None
    """The handle that keeps this run's lock for as long as the session (the notebook's kernel) lives."""
    progress: Progress | None = None
    engine: str = "lumin"
    """How members train: 'lumin' (the study's way) or 'batched' (the notebook's ENGINE)."""
    scheduler: str | None = None
    """Dask scheduler for LUMIN's members ('local' or an address; the notebook's SCHEDULER), or None."""
    device: str = "cpu"
    """Where the batched engine trains and the vectorised TTA predicts (the notebook's DEVICE)."""
    vectorised_tta: bool = False
    """Whether `evaluate` uses the vectorised TTA: set by `train` (an ensemble the batched engine trained)."""

    @property
    def quick(self) -> bool:
        return self.scale.quick

    @property
    def weights_dir(self) -> Path:
        return self.workdir / "weights"

    @property
    def plots_dir(self) -> Path:
        """Where the run's own plots go: results/plots/<experiment>_<machine>/ (results/quick/plots/ when quick)."""
        exp = self.experiment
        return exp.results_dir / "plots" / run_label(exp.name, exp.machine, exp.split_of)

    @property
    def simulated(self) -> bool:
        return any(is_simulated(identity) for identity in self.prepared.dataset["files"])

    @property
    def dataset_label(self) -> str:
        """How plots name the data: 'SIMULATED' or 'real data'."""
        return "SIMULATED" if self.simulated else "real data"

    def train(self, train_fy: Any, model_builder: Any, n_epochs: int,
              cb_partials: list[Callable[[], Any]] | None = None, patience: int | None = None,
              n_models: int | None = None) -> training.Training:
        """Train the ensemble member by member (seeded from the machine's seed) and record time and configuration,
        with the session's engine, scheduler and device (the notebook's ENGINE, SCHEDULER and DEVICE; see
        `training.train_ensemble`)."""
        n_models = self.scale.n_models if n_models is None else self.scale.models(n_models)
        trained = training.train_ensemble(train_fy, model_builder, n_models, n_epochs, self.weights_dir,
                                          cb_partials=cb_partials, patience=patience, seed=self.experiment.seed,
                                          progress=self.progress, engine=self.engine, scheduler=self.scheduler,
                                          device=self.device, what=self.experiment.name)
        self.vectorised_tta = trained.vectorised_tta
        self.experiment["train_time"] = trained.seconds
        self.config["training"] = trained.config
        self.config["model"] = describe_model(model_builder)
        return trained

    def evaluate(self, ensemble: Any, tta: bool) -> pd.DataFrame:
        """Score the ensemble (with test-time augmentation as the main result when `tta`), record the metrics and
        the ensemble's kind, and return the metrics as a table. An ensemble the batched engine trained is scored
        with the vectorised test-time augmentation (`modules.tta`), one LUMIN trained with LUMIN's."""
        fast = self.vectorised_tta
        self.experiment.results.update(evaluation.evaluate(ensemble, self.prepared, self.workdir, tta,
                                                           self.progress, fast, self.device))
        self.config["ensemble"] = describe_ensemble(ensemble)
        self.config["test_time_augmentation"] = ("vectorised" if fast else "lumin") if tta else False
        return metrics_table(self.experiment.results)

    def finish(self) -> pd.DataFrame:
        """Record dataset, configuration and metrics in the results JSON and return the metrics as a table."""
        exp = self.experiment
        if self.progress is not None:
            self.progress.stage("saving the results")
        exp.dataset = {**self.prepared.dataset, "description": self.source.description, "simulated": self.simulated}
        exp.config = {"quick": self.quick, "scale": dataclasses.asdict(self.scale), "prepare": self.prepared.options,
                      **self.config}
        path = exp.save(history=None if self.quick else exp.results_dir / "history")
        print(f"results written to {path}")
        return metrics_table(exp.results)


def experiment_name(folder: Path | None = None) -> str:
    """The experiment a notebook belongs to: the name of the numbered folder it runs in (Jupyter and `higgsml run`
    both run a notebook in its own folder)."""
    folder = Path.cwd() if folder is None else folder
    if not EXPERIMENT_FOLDER.match(folder.name):
        raise UserError(f"cannot tell the experiment from the working folder {folder}: run the notebook from its "
                        f"numbered folder under notebooks/ (Jupyter does) or with `higgsml run`")
    return folder.name


def check_writable(folder: Path) -> None:
    """Fail now, in one line, if results cannot be written to `folder` (rather than after hours of training)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UserError(f"{folder}: results cannot be written there ({err.strerror or err})") from None


def guard_record(experiment: Experiment) -> None:
    """Refuse to start a full run whose record already exists: it would be replaced when this one finishes."""
    if experiment.path.exists():
        raise UserError(f"{experiment.path} already holds a full run of {experiment.name} on {experiment.machine}; "
                        f"run again with --fresh (FRESH = True in the notebook) to replace it, the old record "
                        f"then being kept in {experiment.results_dir / 'history'}/")


def start(machine: str, dataset: str = "auto", quick: bool = False, options: PrepareOptions | None = None,
          name: str | None = None, fresh: bool = False, guard: bool = True, split_seed: int | None = None,
          engine: str = "lumin", scheduler: str | None = None, device: str = "cpu",
          split_of: str | None = None) -> Session:
    """Resolve and prepare the data with the machine's seed (or that of the machine `split_of` names, or
    `split_seed`), and open the experiment record.

    The experiment's name is its notebook's folder unless `name` is given. Only one run of an experiment on a
    machine at a time (a lock). A full run refuses to start where its record exists unless `fresh` (or `guard` is
    off, for records that are meant to be updated, like the search's summary); `fresh` also discards members an
    interrupted run left, which are otherwise reused. `engine`, `scheduler` and `device` say how `train` trains
    (the notebook's ENGINE, SCHEDULER and DEVICE); `split_of` is the notebook's SPLIT_OF.
    """
    name = name or experiment_name()
    scale = QUICK if quick else FULL
    experiment = Experiment(name, machine, results_dir=results_dir(quick), split_of=split_of)
    split_of = experiment.split_of
    workdir = workdir_for(name, machine, quick, split_of)
    lock = locks.hold(run_lock(workdir), run_title(name, machine, split_of), parent_may_hold=True)
    if guard and not quick and not fresh:
        guard_record(experiment)
    check_writable(experiment.results_dir)
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
        print(f"fresh start: removed the members of earlier runs in {workdir}")
    progress = Progress(workdir / FILE)
    progress.stage("preparing the data")
    source = sources.resolve(dataset, events=scale.simulated_events)
    print(source.description)
    experiment.run = RunSpec(name, machine, quick, sources.spec_of(source), engine, scheduler, device, split_of)
    seed = experiment.seed if split_seed is None else split_seed
    origin = f"seed {seed}" + ("" if split_seed is not None else f" of machine {split_of or machine}")
    options = dataclasses.replace(options or PrepareOptions(), seed=seed, max_events=scale.max_events)
    prepared = prepare(source, options)
    rows = prepared.rows
    print(f"prepared {rows['train']} training, {rows['val']} validation and {rows['test']} test events "
          f"({origin}) in {prepared.folder}")
    progress.stage(f"prepared {rows['train']:,} training events")
    return Session(experiment, prepared, scale, source, workdir, lock=lock, progress=progress, engine=engine,
                   scheduler=scheduler, device=device)
