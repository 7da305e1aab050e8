"""What every experiment notebook does around its own model: train a LUMIN ensemble with the study's semantics,
predict validation and test data with and without test-time augmentation, choose the cut, score, and time it all.

The notebook keeps the experiment's own choices (the ModelBuilder, the callbacks, the number of models and epochs).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from modules import scoring
from modules.data.prepare import PreparedData
from modules.quiet import silenced

BATCH_SIZE = 256
AUG_ROTATIONS = 2
"""Test-time augmentation: 2 fixed rotations x y-flip x z-flip = 8 copies, the study's `rot_mult=2`."""


@contextlib.contextmanager
def timer() -> Iterator[dict[str, float]]:
    """`with timer() as t: ...` then `t['seconds']` holds the wall time."""
    record = {"seconds": float("nan")}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - start


def fold_yielder(path: Path, augment: bool, train_time: bool = True) -> Any:
    """A LUMIN fold yielder on `path`; with `augment`, random phi rotations and y/z flips (the study's augmentation)."""
    from lumin.nn.data.fold_yielder import FoldYielder, HEPAugFoldYielder

    if not augment:
        return FoldYielder(path)
    with silenced():
        return HEPAugFoldYielder(path, rot_mult=AUG_ROTATIONS, reflect_y=True, reflect_z=True,
                                 train_time_aug=train_time, test_time_aug=not train_time)


def augmented_copies(fy: Any, n_copies: int = 2, event: int = 0) -> list[pd.DataFrame]:
    """One training event as stored, then `n_copies` random train-time augmentations of it (for `compare_events`)."""
    columns = fy.cont_feats + fy.cat_feats
    stored = pd.DataFrame(fy.get_data(n_folds=1, fold_idx=0)["inputs"][event : event + 1], columns=columns)
    copies = [pd.DataFrame(fy.get_fold(0)["inputs"][event : event + 1], columns=columns) for _ in range(n_copies)]
    return [stored, *copies]


def n_events(fy: Any) -> int:
    """Number of events in a fold file."""
    return int(sum(fy.get_data_count(i) for i in range(fy.n_folds)))


def ams_metric(train_fy: Any) -> Callable[[], Any]:
    """The AMS tracked each epoch (b_r = 10, original weights) without steering model selection, as in the study."""
    from lumin.nn.metrics.class_eval import AMS

    return partial(AMS, n_total=n_events(train_fy), wgt_name="gen_weight_original", br=scoring.BR,
                   main_metric=False)


@dataclass
class Training:
    """What `train_ensemble` returns: LUMIN's per-model results and histories, and the wall time."""

    results: list[dict[str, Any]]
    histories: list[dict[str, list[float]]]
    cycle_losses: list[Any]
    seconds: float
    savepath: Path
    config: dict[str, Any] = field(default_factory=dict)


def train_ensemble(train_fy: Any, model_builder: Any, n_models: int, n_epochs: int, savepath: Path,
                   cb_partials: list[Callable[[], Any]] | None = None, patience: int | None = None,
                   bs: int = BATCH_SIZE) -> Training:
    """Train `n_models` with LUMIN `train_models`, each on all folds but its own validation fold.

    Models are selected by validation loss (the study's choice; the AMS is only tracked). Old weights at
    `savepath` are removed first so an ensemble never mixes two runs.
    """
    from lumin.nn.training.train import train_models

    savepath = Path(savepath)
    if savepath.exists():
        shutil.rmtree(savepath)
    for i in range(n_models):  # train_models first runs `rm -r` on each model's folder; let it find one
        (savepath / f"model_id_{i}").mkdir(parents=True)
    with timer() as clock:
        results, histories, cycle_losses = train_models(
            train_fy, n_models, bs=bs, model_builder=model_builder, n_epochs=n_epochs, patience=patience,
            cb_partials=cb_partials, metric_partials=[ams_metric(train_fy)], savepath=savepath, live_fdbk=False,
        )
    config = {"n_models": n_models, "n_epochs": n_epochs, "batch_size": bs, "patience": patience,
              "callbacks": [describe_partial(cb) for cb in cb_partials or []]}
    return Training(results, histories, cycle_losses, clock["seconds"], savepath, config)


def describe_partial(p: Any) -> str:
    """A readable one-liner for a functools.partial of a callback, for the results JSON."""
    if not isinstance(p, partial):
        return repr(p)
    args = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    return f"{p.func.__name__}({', '.join(args)})"


def load_ensemble(training: Training, model_builder: Any, size: int | None = None) -> Any:
    """The trained models as a LUMIN Ensemble weighted by the reciprocal of their validation loss."""
    from lumin.nn.ensemble.ensemble import Ensemble

    size = size or len(training.results)
    return Ensemble.from_results(training.results, size, model_builder, metric="loss", higher_metric_better=False,
                                 verbose=False)


PER_EVENT = ("targets", "weights", "gen_weight_original", "private", "EventId")
"""The per-event columns a fold file may hold besides its inputs."""


def fold_table(fy: Any, extra: tuple[str, ...] = (), inputs: bool = False) -> pd.DataFrame:
    """Every fold of a fold file as one table: its per-event columns (plus `extra`, e.g. 'pred'), the fold index,
    and with `inputs` the stored input features. An unlabelled test file's (n, 0) targets are left out."""
    fold0 = fy.foldfile["fold_0"]
    columns = [c for c in (*extra, *PER_EVENT) if c in fold0 and fold0[c].ndim == 1]
    frames = []
    for i in range(fy.n_folds):
        if inputs:
            frame = pd.DataFrame(fy.get_column("inputs", n_folds=1, fold_idx=i), columns=fy.cont_feats + fy.cat_feats)
        else:
            frame = pd.DataFrame(index=pd.RangeIndex(fy.get_data_count(i)))
        for column in columns:
            frame[column] = fy.get_column(column, n_folds=1, fold_idx=i)
        frame["fold"] = i
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def predict(ensemble: Any, foldfile: Path, tta: bool, workdir: Path) -> tuple[pd.DataFrame, float]:
    """Predict every fold of `foldfile` (a private copy under `workdir`, so cached folds stay untouched).

    Returns one row per event (pred, fold and the file's targets, weights and extra columns) and the seconds the
    ensemble took; with `tta`, each prediction is the mean over the 8 transformed copies of the event.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / f"{Path(foldfile).stem}_{'tta' if tta else 'plain'}.hdf5"
    shutil.copyfile(foldfile, copy)
    fy = fold_yielder(copy, augment=tta, train_time=False)
    with timer() as clock:
        ensemble.predict(fy, pred_name="pred", verbose=False)
    table = fold_table(fy, extra=("pred",))
    fy.close()
    copy.unlink()
    return table.rename(columns={"targets": "gen_target", "weights": "gen_weight"}), clock["seconds"]


def _suffix(tta: bool) -> str:
    return "" if tta else "_no_tta"


def evaluate_validation(
    ensemble: Any, prepared: PreparedData, tta: bool, workdir: Path
) -> tuple[scoring.Cut, dict[str, float]]:
    """Predict the validation split, choose the study's cut on it, and return the cut with its metrics."""
    data, seconds = predict(ensemble, prepared.val, tta, workdir)
    cut = scoring.choose_cut(data.pred.to_numpy(), data.gen_target.to_numpy(),
                             data.gen_weight_original.to_numpy(), wgt_factor=prepared.weight_scale["val"])
    sfx = _suffix(tta)
    return cut, {f"val_time{sfx}": seconds, f"val_ams_max{sfx}": cut.ams_max, f"val_ams_smooth{sfx}": cut.ams_at_cut,
                 f"val_cut{sfx}": cut.cut}


def evaluate_test(ensemble: Any, prepared: PreparedData, cut: scoring.Cut, tta: bool, workdir: Path) -> dict[str, Any]:
    """Predict the test set and score it at `cut`: public and private AMS overall and mean over the folds."""
    sfx = _suffix(tta)
    if not prepared.test.exists():
        return {}
    data, seconds = predict(ensemble, prepared.test, tta, workdir)
    metrics: dict[str, Any] = {f"test_time{sfx}": seconds}
    if prepared.has_test_labels:
        scale = {k: v for k, v in prepared.weight_scale.items() if k in ("public", "private")}
        overall = scoring.score_test(data, cut.cut, scale)
        per_fold = scoring.score_test_per_fold(data, cut.cut, scale)
        metrics.update({f"{k}{sfx}": v for k, v in {**overall, **per_fold}.items()})
    return metrics

