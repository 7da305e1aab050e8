"""The challenge's metric, the Approximate Median Significance, and the study's way of using it.

The cut is chosen on the validation split exactly as LUMIN's `binary_class_cut_by_ams` does (the mean prediction of
the top 10% of events ranked by the AMS of a cut at their prediction, considering predictions >= 0.9), but with
cumulative sums instead of one weighted sum per event, so it takes milliseconds rather than minutes on 50k events.

Subsets stand for their full set as in the study (GilesStrong/HiggsML_Lumin): weights are scaled by the ratio of event
counts, full set over subset, never by the ratio of weight sums. The notebooks choose the cut with
`binary_class_cut_by_ams(val_df, top_perc=10, br=10, wgt_factor=250000/50000)` on the validation split's Kaggle weights,
score the complete public and private sets unscaled (`modules/basics.py: score_test_data`), and scale each test fold's
weights by n(set) / n(set in fold) (`score_test_data_per_fold`). `count_scales` gives these factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BR = 10.0
"""The challenge's regularisation term b_r added to the background (choosing the cut on validation)."""
TEST_BR = 0.0
"""The b_r of the study's test scores: its `score_test_data` and `score_test_data_per_fold` called LUMIN's `calc_ams`
without `br`, whose default is 0, so every published public and private AMS has b_r = 0 (the challenge's own metric,
b_r = 10, gives values lower by about 0.001-0.006)."""
TOP_PERC = 10.0
MIN_PRED = 0.9


def ams(s: float | np.ndarray, b: float | np.ndarray, br: float = BR) -> float | np.ndarray:
    """AMS = sqrt(2((s + b + b_r) ln(1 + s / (b + b_r)) - s)); zero when nothing is selected (or no background is
    selected with b_r = 0, where the formula has no value)."""
    s, b = np.asarray(s, float), np.asarray(b, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        radicand = np.where(b + br > 0, 2 * ((s + b + br) * np.log1p(s / np.where(b + br > 0, b + br, 1.0)) - s), 0.0)
    out = np.sqrt(np.clip(radicand, 0, None))
    return float(out) if out.ndim == 0 else out


def selected_ams(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, cut: float, br: float = BR) -> float:
    """AMS of the events with pred >= cut."""
    sel = pred >= cut
    return ams(weight[sel & (target == 1)].sum(), weight[sel & (target == 0)].sum(), br)


def ams_at_each_prediction(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, br: float = BR) -> np.ndarray:
    """For every event, the AMS of cutting at its own prediction (pred >= its value), ties treated together."""
    order = np.argsort(-pred, kind="mergesort")
    p, t, w = pred[order], target[order], weight[order]
    s, b = np.cumsum(np.where(t == 1, w, 0.0)), np.cumsum(np.where(t == 0, w, 0.0))
    last_of_tie = np.r_[p[1:] != p[:-1], True]
    tie_end = np.minimum.accumulate(np.where(last_of_tie, np.arange(len(p)), len(p))[::-1])[::-1]
    out = np.empty(len(p))
    out[order] = ams(s[tie_end], b[tie_end], br)
    return out


@dataclass(frozen=True)
class Cut:
    """The chosen threshold, the AMS it gives on the validation data, and the best AMS of any single cut."""

    cut: float
    ams_at_cut: float
    ams_max: float


def choose_cut(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, wgt_factor: float = 1.0,
               top_perc: float = TOP_PERC, min_pred: float = MIN_PRED, br: float = BR) -> Cut:
    """The study's smoothed cut: mean prediction of the top `top_perc`% of events ranked by AMS at their prediction.

    As in LUMIN, only predictions >= `min_pred` are ranked, yet the top fraction counts all events; weights are
    multiplied by `wgt_factor` (the validation split's full-set scale) first.
    """
    pred, target = np.asarray(pred, float), np.asarray(target)
    weight = np.asarray(weight, float) * wgt_factor
    scores = np.full(len(pred), -1.0)
    eligible = pred >= min_pred
    if eligible.any():
        scores[eligible] = ams_at_each_prediction(pred, target, weight, br)[eligible]
    n_top = max(int(top_perc * len(pred) / 100), 1)
    ranked = np.argsort(-scores, kind="mergesort")
    cut = float(np.mean(pred[ranked[:n_top]]))
    return Cut(cut=cut, ams_at_cut=selected_ams(pred, target, weight, cut, br), ams_max=float(scores[ranked[0]]))


def count_scales(rows: dict[str, int], test: pd.DataFrame | None = None) -> dict[str, float]:
    """The study's full-set weight factors from event counts: validation n(train + val) / n(val) (250000/50000 on the
    real data), and for each test set present n(set in the file) / n(set in `test`), 1 when the whole set is kept.

    `rows` is `PreparedData.rows` (keys train, val and, for the CERN file, test_set_b and test_set_v); a factor whose
    counts are missing is left out, so the caller can fall back to another scale.
    """
    out: dict[str, float] = {}
    if rows.get("val"):
        out["val"] = (rows.get("train", 0) + rows["val"]) / rows["val"]
    if test is not None and "private" in test:
        for name, flag, key in (("public", 0, "test_set_b"), ("private", 1, "test_set_v")):
            kept = int((test.private == flag).sum())
            if kept and rows.get(key):
                out[name] = rows[key] / kept
    return out


def score_test(df: pd.DataFrame, cut: float, scale: dict[str, float] | None = None,
               br: float = TEST_BR) -> dict[str, float]:
    """Overall public and private AMS of a test DataFrame (columns pred, gen_target, gen_weight, private).

    `scale` gives each set's full-set weight factor ({'public': .., 'private': ..}; see `count_scales`); 1 when the
    whole set is present, as in the study, whose public and private Kaggle weights already sum to the full totals.
    """
    scale = scale or {}
    out = {}
    for name, flag in (("public", 0), ("private", 1)):
        part = df[df.private == flag]
        weight = part.gen_weight.to_numpy(float) * scale.get(name, 1.0)
        out[f"test_{name}_ams"] = selected_ams(part.pred.to_numpy(), part.gen_target.to_numpy(), weight, cut, br)
    return out


def score_test_per_fold(df: pd.DataFrame, cut: float, scale: dict[str, float] | None = None,
                      br: float = TEST_BR, by: str = "count") -> dict[str, tuple[float, float]]:
    """Mean and standard error over test folds (column `fold`) of the public and private AMS.

    Each fold's weights are scaled so the fold stands for the full set, as the study did (`score_test_data_per_fold`):
    by the set's event count over the fold's (times the set's `scale`); `by="weight"` scales by weight sums instead.
    The uncertainty is std / sqrt(n_folds), as the study reported it.
    """
    if by not in ("count", "weight"):
        raise ValueError(f"by must be 'count' or 'weight', not {by!r}")
    scale = scale or {}
    out = {}
    for name, flag in (("public", 0), ("private", 1)):
        part = df[df.private == flag]
        full = (len(part) if by == "count" else part.gen_weight.sum()) * scale.get(name, 1.0)
        values = []
        for _, fold in part.groupby("fold"):
            size = len(fold) if by == "count" else fold.gen_weight.sum()
            weight = fold.gen_weight.to_numpy(float) * full / size
            values.append(selected_ams(fold.pred.to_numpy(), fold.gen_target.to_numpy(), weight, cut, br))
        err = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        out[f"test_{name}_ams_mean"] = (float(np.mean(values)) if values else float("nan"), err)
    return out
