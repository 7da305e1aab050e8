"""Test-time augmentation with array operations: the study's 8 copies of every event (rotations by 0 and pi in phi,
each with and without flipping y and z) made at once for a whole file, and every ensemble member run on all copies
in large batches; LUMIN builds each copy fold by fold with pandas. The predictions are the same, to float precision:
the ensemble's weighted mean over members of each member's mean over the copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules.folds import AUG_ROTATIONS, fold_table, fold_yielder
from modules.timing import timer

BATCH = 1 << 16


def copies(inputs: np.ndarray, feats: list[str], rotations: int = AUG_ROTATIONS) -> np.ndarray:
    """(8, events, features) float32: for flips z, y in (no, yes) and each rotation, the events rotated in phi, then
    reflected, as LUMIN's HEPAugFoldYielder orders its test-time copies; NaN (undefined) values become 0 as LUMIN's."""
    index = {f: i for i, f in enumerate(feats)}
    vectors = [f[:-3] for f in feats if f.endswith("_px") and f"{f[:-3]}_py" in index]
    px = np.array([index[f"{v}_px"] for v in vectors])
    py = np.array([index[f"{v}_py"] for v in vectors])
    pz = np.array([index[f"{v}_pz"] for v in vectors if f"{v}_pz" in index])
    out = []
    for flip_z in (False, True):
        for flip_y in (False, True):
            for angle in np.linspace(0, 2 * np.pi, rotations + 1)[:rotations]:
                x = inputs.astype(np.float64, copy=True)
                x[:, px] = inputs[:, px] * np.cos(angle) - inputs[:, py] * np.sin(angle)
                x[:, py] = inputs[:, py] * np.cos(angle) + inputs[:, px] * np.sin(angle)
                if flip_y:
                    x[:, py] *= -1
                if flip_z:
                    x[:, pz] *= -1
                out.append(np.nan_to_num(x))
    return np.stack(out).astype(np.float32)


def member_predictions(model: Any, inputs: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """One LUMIN Model's predictions for `inputs` (rows of the stored features), in batches, without gradients."""
    import torch

    network = model.model.eval()
    out = np.empty(len(inputs), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            out[start:start + batch] = network(torch.from_numpy(inputs[start:start + batch])).numpy().ravel()
    return out


def predict(ensemble: Any, foldfile: Path) -> tuple[pd.DataFrame, float]:
    """Every event of `foldfile` predicted with test-time augmentation: a table like `evaluation.predict`'s (pred,
    fold, targets, weights and the file's other columns) and the seconds the predictions took."""
    fy = fold_yielder(foldfile, augment=False)
    try:
        table = fold_table(fy, inputs=True)
        feats = fy.cont_feats + fy.cat_feats
    finally:
        fy.close()
    with timer() as clock:
        stacked = copies(table[feats].to_numpy(), feats)
        n_copies, n_events = stacked.shape[:2]
        flat = stacked.reshape(n_copies * n_events, -1)
        weights = np.asarray(ensemble.weights, dtype=np.float64)
        pred = np.zeros(n_events)
        for weight, model in zip(weights / weights.sum(), ensemble.models, strict=True):
            pred += weight * member_predictions(model, flat).reshape(n_copies, n_events).mean(axis=0)
    out = table.drop(columns=feats)
    out.insert(0, "pred", pred)
    return out.rename(columns={"targets": "gen_target", "weights": "gen_weight"}), clock["seconds"]
