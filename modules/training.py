"""Training an ensemble the study's way, one member at a time: member i is a LUMIN `train_models` run that validates
on fold i and trains on the other nine, so an interrupted ensemble can be resumed and members can run as separate
tasks. Each member is seeded from the run's seed and its index, so it is the same whichever members ran before it.

The notebook keeps the experiment's own choices (the ModelBuilder, the callbacks, the number of models and epochs).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from modules import scoring
from modules.folds import n_events
from modules.models.schedules import TrainingRecorder
from modules.quiet import silenced
from modules.timing import timer

BATCH_SIZE = 256


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member `member` in a run seeded with `seed` (independent streams per member)."""
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed every generator LUMIN training draws from: fold order (random), batches and augmentation (NumPy),
    weight initialisation and dropout (torch)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ams_metric(train_fy: Any) -> Callable[[], Any]:
    """The AMS tracked each epoch (b_r = 10, original weights) without steering model selection, as in the study."""
    from lumin.nn.metrics.class_eval import AMS

    return partial(AMS, n_total=n_events(train_fy), wgt_name="gen_weight_original", br=scoring.BR,
                   main_metric=False)


@dataclass
class Member:
    """One trained ensemble member: LUMIN's result and loss history, its cycle losses (cyclic schedules), the
    callbacks it trained with (SWA's averages, the recorder's LR history, ...) and its wall time."""

    index: int
    result: dict[str, Any]
    history: dict[str, list[float]]
    cycle_losses: list[float]
    callbacks: list[Any]
    seconds: float

    @property
    def recorder(self) -> TrainingRecorder:
        return next(c for c in self.callbacks if isinstance(c, TrainingRecorder))

    def callback(self, kind: type) -> Any:
        """The member's callback of class `kind` (e.g. LUMIN's SWA)."""
        return next(c for c in self.callbacks if isinstance(c, kind))


@dataclass
class Training:
    """What `train_ensemble` returns: every member, the total wall time, where the weights are, and the record."""

    members: list[Member]
    seconds: float
    savepath: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> list[dict[str, Any]]:
        """LUMIN's per-member results (validation loss, AMS, path), as `Ensemble.from_results` takes them."""
        return [m.result for m in self.members]

    @property
    def cycle_losses(self) -> list[list[float]]:
        return [m.cycle_losses for m in self.members]


class _Keep:
    """Wraps a callback partial so the instance LUMIN creates for a member is kept for inspection afterwards."""

    def __init__(self, factory: Callable[[], Any], store: list[Any]) -> None:
        self.factory, self.store = factory, store

    def __call__(self) -> Any:
        callback = self.factory()
        self.store.append(callback)
        return callback


def train_member(train_fy: Any, model_builder: Any, index: int, n_epochs: int, savepath: Path,
                 cb_partials: list[Callable[[], Any]], patience: int | None, bs: int, seed: int | None) -> Member:
    """Train ensemble member `index` (validation fold `index` mod the number of folds) with LUMIN's `train_models`."""
    from lumin.nn.training.train import train_models

    if seed is not None:
        seed_everything(member_seed(seed, index))
    callbacks: list[Any] = []
    kept = [_Keep(p, callbacks) for p in [*cb_partials, TrainingRecorder]]
    (savepath / f"model_id_{index}").mkdir(parents=True, exist_ok=True)  # train_models `rm -r`s it first
    with timer() as clock, silenced():
        results, histories, cycle_losses = train_models(
            train_fy, index + 1, bs=bs, model_builder=model_builder, n_epochs=n_epochs, patience=patience,
            cb_partials=kept, metric_partials=[ams_metric(train_fy)], savepath=savepath, start_model_id=index,
            live_fdbk=False,
        )
    return Member(index, results[0], histories[0], cycle_losses[0], callbacks, clock["seconds"])


def train_ensemble(train_fy: Any, model_builder: Any, n_models: int, n_epochs: int, savepath: Path,
                   cb_partials: list[Callable[[], Any]] | None = None, patience: int | None = None,
                   bs: int = BATCH_SIZE, seed: int | None = None) -> Training:
    """Train `n_models` members one after another, each on all folds but its own validation fold.

    Models are selected by validation loss (the study's choice; the AMS is only tracked). With `seed`, member i is
    seeded from (seed, i); without, the generators run on from their current state, exactly as one LUMIN
    `train_models` call over all members would. Old weights at `savepath` are removed first so an ensemble never
    mixes two runs.
    """
    savepath = Path(savepath)
    if savepath.exists():
        shutil.rmtree(savepath)
    cb_partials = list(cb_partials or [])
    members = []
    with timer() as clock:
        for i in range(n_models):
            member = train_member(train_fy, model_builder, i, n_epochs, savepath, cb_partials, patience, bs, seed)
            epochs = len(member.recorder.batches_per_epoch)
            print(f"member {i + 1}/{n_models}: {epochs} epochs, validation loss {member.result['loss']:.4e}, "
                  f"{member.seconds:.1f} s", flush=True)
            members.append(member)
    config = {"engine": "lumin", "n_models": n_models, "n_epochs": n_epochs, "batch_size": bs, "patience": patience,
              "seed": seed, "callbacks": [describe_partial(cb) for cb in cb_partials],
              "epochs_trained": [len(m.recorder.batches_per_epoch) for m in members],
              "member_seconds": [m.seconds for m in members]}
    return Training(members, clock["seconds"], savepath, config)


def describe_partial(p: Any) -> str:
    """A readable one-liner for a functools.partial of a callback, for the results JSON."""
    if not isinstance(p, partial):
        return getattr(p, "__name__", repr(p))
    args = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    return f"{p.func.__name__}({', '.join(args)})"
