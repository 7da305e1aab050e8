"""Test-time augmentation with array operations: the study's 8 copies of every event (rotations by 0 and pi in phi,
each with and without flipping y and z) made chunk by chunk, and every ensemble member run on each chunk's copies in
batches that stay in the CPU's caches; LUMIN builds each copy fold by fold with pandas and predicts each whole fold
at once. The predictions are the same, to float precision: the ensemble's weighted mean over members of each
member's mean over the copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules.folds import AUG_ROTATIONS, fold_table, fold_yielder
from modules.timing import timer

CHUNK = 1024
"""Events per step: their 8 copies make 8,192 rows, a batch that stays in the CPU's caches (a 65,536-row batch of
this network runs 2.4-2.9 times slower per event on the 2-core EPYC, measured)."""


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


def _forward(network: Any) -> Callable[[Any], Any]:
    """The network's prediction function: the batched engine's forward pass where it supports the network (one
    preallocated buffer for the dense connections and a fused Swish, about 17% faster per event than LUMIN's
    modules, measured), else the LUMIN network itself."""
    import torch

    from modules.batched.network import StackedNetwork, Unsupported

    try:
        stacked = StackedNetwork([network])
    except Unsupported:
        return network
    return lambda rows: torch.sigmoid(stacked.forward(rows[None])[0][0])


def predict(ensemble: Any, foldfile: Path) -> tuple[pd.DataFrame, float]:
    """Every event of `foldfile` predicted with test-time augmentation: a table like `evaluation.predict`'s (pred,
    fold, targets, weights and the file's other columns) and the seconds the predictions took."""
    import torch

    fy = fold_yielder(foldfile, augment=False)
    try:
        table = fold_table(fy, inputs=True)
        feats = fy.cont_feats + fy.cat_feats
    finally:
        fy.close()
    inputs = table[feats].to_numpy()
    weights = np.asarray(ensemble.weights, dtype=np.float64)
    weights = weights / weights.sum()
    networks = [_forward(model.model.eval()) for model in ensemble.models]
    pred = np.zeros(len(inputs))
    with timer() as clock, torch.inference_mode():
        for start in range(0, len(inputs), CHUNK):
            stacked = copies(inputs[start:start + CHUNK], feats)
            n_copies, n_events = stacked.shape[:2]
            rows = torch.from_numpy(stacked.reshape(n_copies * n_events, -1))
            for weight, network in zip(weights, networks, strict=True):
                member = network(rows).numpy().reshape(n_copies, n_events).mean(axis=0, dtype=np.float64)
                pred[start:start + n_events] += weight * member
    out = table.drop(columns=feats)
    out.insert(0, "pred", pred)
    return out.rename(columns={"targets": "gen_target", "weights": "gen_weight"}), clock["seconds"]
