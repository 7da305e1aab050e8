"""The study's split bodies (experiments 14-16) route high-level (DER_) and low-level (PRI_) features to separate
blocks of LUMIN's `MultiBlock`; this file says which features are which and reads what the blocks learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def der_features(feats: list[str]) -> list[str]:
    """The high-level features: those the challenge derived from the others (DER_ prefix)."""
    return [f for f in feats if f.startswith("DER_")]


def pri_features(feats: list[str]) -> list[str]:
    """The low-level features: the reconstructed objects themselves (PRI_ prefix), PRI_jet_num included."""
    return [f for f in feats if f.startswith("PRI_")]


def bottleneck_outputs(model: Any, inputs: np.ndarray) -> pd.DataFrame:
    """For every bottleneck of a MultiBlock body, its neuron's output before and after the activation on `inputs`.

    Columns `bottleneck_<i>_pre` and `bottleneck_<i>_post`; bottleneck i feeds block i the features it does not see.
    """
    import torch

    body = model.body
    if not getattr(body, "bottleneck_sz", 0):
        raise ValueError("the model's body has no bottlenecks (MultiBlock with bottleneck_sz > 0)")
    captured: dict[int, torch.Tensor] = {}
    hooks = [block[0].register_forward_hook(lambda _m, _i, out, i=i: captured.__setitem__(i, out.detach()))
             for i, block in enumerate(body.bottleneck_blocks)]
    try:
        model.predict(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    table = {}
    for i, block in enumerate(body.bottleneck_blocks):
        pre = captured[i]
        post = block[1:](pre) if len(block) > 1 else pre
        table[f"bottleneck_{i}_pre"] = pre[:, 0].cpu().numpy()
        table[f"bottleneck_{i}_post"] = post[:, 0].cpu().numpy()
    return pd.DataFrame(table)
