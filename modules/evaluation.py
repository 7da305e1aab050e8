"""Scoring a trained ensemble the study's way: predict the validation split (with or without test-time augmentation),
choose the cut on it, then score the public and private test sets at that cut, timing each prediction."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from modules import scoring
from modules.data.prepare import PreparedData
from modules.folds import fold_table, fold_yielder
from modules.progress import Progress
from modules.timing import timer


def predict(ensemble: Any, foldfile: Path, tta: bool, workdir: Path, fast: bool = False,
            device: Any = None) -> tuple[pd.DataFrame, float]:
    """Predict every fold of `foldfile` (a private copy under `workdir`, so cached folds stay untouched).

    Returns one row per event (pred, fold and the file's targets, weights and extra columns) and the seconds the
    ensemble took; with `tta`, each prediction is the mean over the 8 transformed copies of the event, made by
    LUMIN or, with `fast`, by `modules.tta` (the same predictions to 1e-6, several times faster).
    """
    if tta and fast:
        from modules import tta as fast_tta

        return fast_tta.predict(ensemble, foldfile, device)
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / f"{Path(foldfile).stem}_{'tta' if tta else 'plain'}.hdf5"
    shutil.copyfile(foldfile, copy)
    fy = fold_yielder(copy, augment=tta, train_time=False, writable=True)
    with timer() as clock:
        ensemble.predict(fy, pred_name="pred", verbose=False)
    table = fold_table(fy, extra=("pred",))
    fy.close()
    copy.unlink()
    return table.rename(columns={"targets": "gen_target", "weights": "gen_weight"}), clock["seconds"]


def evaluate_validation(ensemble: Any, prepared: PreparedData, tta: bool, workdir: Path,
                        suffix: str = "", fast: bool = False, device: Any = None
                        ) -> tuple[scoring.Cut, dict[str, float]]:
    """Predict the validation split, choose the study's cut on it, and return the cut with its metrics."""
    data, seconds = predict(ensemble, prepared.val, tta, workdir, fast, device)
    # the study's wgt_factor=250000/50000: event counts, not weight sums (see modules.scoring)
    factor = scoring.count_scales(prepared.rows).get("val", prepared.weight_scale["val"])
    cut = scoring.choose_cut(data.pred.to_numpy(), data.gen_target.to_numpy(),
                             data.gen_weight_original.to_numpy(), wgt_factor=factor)
    return cut, {f"val_time{suffix}": seconds, f"val_ams_max{suffix}": cut.ams_max,
                 f"val_ams_smooth{suffix}": cut.ams_at_cut, f"val_cut{suffix}": cut.cut}


def evaluate_test(ensemble: Any, prepared: PreparedData, cut: scoring.Cut, tta: bool, workdir: Path,
                  suffix: str = "", fast: bool = False, device: Any = None) -> dict[str, Any]:
    """Predict the test set and score it at `cut`: public and private AMS overall and mean over the folds."""
    if not prepared.test.exists():
        return {}
    data, seconds = predict(ensemble, prepared.test, tta, workdir, fast, device)
    metrics: dict[str, Any] = {f"test_time{suffix}": seconds}
    if prepared.has_test_labels:
        # the study's rule: full-set factors from event counts (1 for a complete set), falling back to weight sums
        scale = {k: v for k, v in prepared.weight_scale.items() if k in ("public", "private")}
        scale.update(scoring.count_scales(prepared.rows, data))
        scale.pop("val", None)
        overall = scoring.score_test(data, cut.cut, scale)
        per_fold = scoring.score_test_per_fold(data, cut.cut, scale)
        metrics.update({f"{k}{suffix}": v for k, v in {**overall, **per_fold}.items()})
    return metrics


def evaluate(ensemble: Any, prepared: PreparedData, workdir: Path, tta: bool,
             progress: Progress | None = None, fast: bool = False, device: Any = None) -> dict[str, Any]:
    """All of an experiment's scores. With `tta`, the test-time-augmented scores under the plain metric names and
    the plain predictions under `_no_tta` names (each with its own cut); without, the plain predictions only.
    With `fast`, the test-time augmentation is `modules.tta`'s rather than LUMIN's, on `device`."""
    variants = [(True, ""), (False, "_no_tta")] if tta else [(False, "")]
    metrics: dict[str, Any] = {}
    for augment, suffix in variants:
        how = "with test-time augmentation" if augment else "without test-time augmentation"
        if progress is not None:
            progress.stage(f"validation {how}")
        cut, validation = evaluate_validation(ensemble, prepared, augment, workdir, suffix, fast, device)
        metrics.update(validation)
        if progress is not None:
            progress.stage(f"test {how}")
        metrics.update(evaluate_test(ensemble, prepared, cut, augment, workdir, suffix, fast, device))
    return metrics
