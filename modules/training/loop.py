"""LUMIN's loop for one member, as LUMIN 0.5.1 trained it: sub-epochs (one training fold each, see
`modules.models.original`) validated on the member's own fold, the best state kept, early stopping in 0.5.1's way,
and the AMS 0.5.1 reported for the member. The sequential and Dask engines train each member with it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lumin.nn.callbacks.callback import Callback

from modules import scoring
from modules.folds import n_events
from modules.models import original
from modules.models.original import SUB_EPOCHS_PER_EPOCH
from modules.models.schedules import TrainingRecorder
from modules.progress import Progress
from modules.quiet import silenced
from modules.timing import timer
from modules.training.member import Member, member_seed, seed_everything


class _Reporter(Callback):
    """Tells a Progress about each finished epoch (nine sub-epochs) with the last validation loss, read once LUMIN's
    MetricLogger, which runs before this callback, has computed it."""

    def __init__(self, progress: Progress, member: int, n_members: int, n_epochs: int) -> None:
        super().__init__()
        self.progress, self.member, self.n_members, self.n_epochs, self.sub_epochs = (progress, member, n_members,
                                                                                        n_epochs, 0)

    def _report(self) -> None:
        results = getattr(self.model.fit_params.metric_log, "val_epoch_results", None)
        loss = float(np.asarray(results[0]).ravel()[0]) if results is not None else None
        done = -(-self.sub_epochs // SUB_EPOCHS_PER_EPOCH)
        self.progress.epoch_done(self.member, self.n_members, done, self.n_epochs, loss)

    def on_epoch_end(self) -> None:
        if self.model.fit_params.state == "valid":
            self.sub_epochs += 1
            if self.sub_epochs % SUB_EPOCHS_PER_EPOCH == 0:
                self._report()

    def on_train_end(self) -> None:
        if self.sub_epochs % SUB_EPOCHS_PER_EPOCH:
            self._report()


def validation_ams(model: Any, by: Any, fy: Any, val_idx: int) -> float:
    """The AMS 0.5.1 reported for a trained member: LUMIN's quick AMS scan of its predictions on the (augmented)
    validation fold it was validated on, with the original weights scaled to the whole training set."""
    fold = fy.foldfile[f"fold_{val_idx}"]
    weights = fold["gen_weight_original"][()] if "gen_weight_original" in fold else fold["weights"][()]
    pred = np.asarray(model.predict(by.inputs)).reshape(-1)
    return max_ams(pred, fold["targets"][()].reshape(-1), weights.reshape(-1), n_events(fy))


def max_ams(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, n_total: int) -> float:
    """LUMIN's AMS metric on a validation fold (`ams_scan_quick`: the best AMS of cutting above each event's
    prediction, weights scaled to the whole training set) with cumulative sums instead of a loop over events."""
    order = np.argsort(pred, kind="quicksort")  # the sort pandas' sort_values does
    signal = np.where(target[order] == 1, weight[order], 0.0).astype(np.float64)
    background = np.where(target[order] == 0, weight[order], 0.0).astype(np.float64)
    s = signal.sum() - np.r_[0.0, np.cumsum(signal)[:-1]]
    b = background.sum() - np.r_[0.0, np.cumsum(background)[:-1]]
    factor = n_total / len(pred)
    s, b = np.clip(s, 0, None) * factor, np.clip(b, 0, None) * factor
    values = np.where(b > 0, scoring.ams(s, np.where(b > 0, b, 1.0), scoring.BR), -1.0)
    return float(max(0.0, values.max()))


def snapshot_losses(callbacks: list[Any]) -> list[float]:
    """The training losses a snapshot-saving cyclic callback recorded at its cycle ends (none without one)."""
    return next((list(c.cycle_losses) for c in callbacks if getattr(c, "cycle_save", False)), [])


def member_callbacks(cb_partials: list[Callable[[], Any]], patience: int | None) -> tuple[list[Any], dict[str, Any]]:
    """The callbacks of one member's training in the order they must run, and the ones read afterwards by name:
    sub-epochs first (the schedules must see one fold), the experiment's own, the recorder, LUMIN's MetricLogger, then
    0.5.1's best-state keeping and early stopping, which read the validation losses the logger has just computed."""
    from lumin.nn.callbacks.monitors import MetricLogger

    own = [factory() for factory in cb_partials]
    named = {"recorder": TrainingRecorder(), "log": MetricLogger(show_plots=False), "best": original.BestState(),
             "validation": original.ValidationData()}
    stopping = [] if patience is None else [original.EarlyStopping(patience)]
    callbacks = [original.SubEpochs(), *own, named["recorder"], named["log"], named["best"], *stopping,
                 named["validation"]]
    return callbacks, {**named, "own": own}


def train_member(train_fy: Any, model_builder: Any, index: int, n_epochs: int, savepath: Path,
                 cb_partials: list[Callable[[], Any]], patience: int | None, bs: int, seed: int | None,
                 progress: Progress | None = None, n_members: int = 1) -> Member:
    """Train ensemble member `index` (validation fold `index` mod the number of folds) as LUMIN 0.5.1's
    `fold_train_ensemble` did, with LUMIN 0.9.1's `Model.fit`: up to `n_epochs` passes over its nine training folds,
    validated after every fold (`modules.models.original`), and its best state saved as `model_id_<i>/train_<i>.h5`."""
    from lumin.nn.models.model import Model

    if seed is not None:
        seed_everything(member_seed(seed, index))
    folder = savepath / f"model_id_{index}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    val_idx = index % train_fy.n_folds
    trn_idxs = [j for j in range(train_fy.n_folds) if j != val_idx]
    model = Model(model_builder)
    callbacks, named = member_callbacks(cb_partials, patience)
    if progress is not None:
        progress.member_begins(index, n_members, n_epochs)
        callbacks.append(_Reporter(progress, index, n_members, n_epochs))
    with timer() as clock, silenced():
        model.fit(n_epochs=n_epochs * len(trn_idxs), fy=train_fy, bs=bs, trn_idxs=trn_idxs, val_idx=val_idx,
                  cbs=callbacks, cb_savepath=folder)
        model.save(folder / f"train_{index}.h5")
        ams = validation_ams(model, named["validation"].by, train_fy, val_idx)
    losses, _ = named["log"].get_loss_history()
    history = ({name: [float(v) for v in values] for name, values in losses.items()}, {})
    cycle_losses = snapshot_losses(named["own"])
    result = {"loss": named["best"].best, "AMS": ams, "path": folder}
    return Member(index, result, history, cycle_losses, [*named["own"], named["recorder"]], clock["seconds"],
                  len(named["recorder"].batches_per_epoch))
