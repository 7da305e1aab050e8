"""How close the simulated stand-in is to real events: per-feature distances, jet fractions, a classifier
two-sample test and the task's difficulty on each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from modules import paths
from modules.schema import FEATURES, LABELS, MISSING

REAL_EXCERPT = paths.SHARED_DATA_DIR / "atlas-higgs-challenge-2014-v2-excerpt-10k.csv.gz"
DEFAULT_EVENTS = 40_000
HELD_OUT = 0.5
JET_NUMS = (0, 1, 2, 3)


@dataclass(frozen=True)
class Comparison:
    """Everything the realism report shows."""

    ks: pd.DataFrame
    """Rows: features; columns: ks_s, ks_b, undefined_real_s, undefined_sim_s, undefined_real_b, undefined_sim_b."""
    jets: pd.DataFrame
    """Rows: (class, weighting); columns: PRI_jet_num 0..3 real and simulated fractions."""
    two_sample_auc: float
    difficulty_real: float
    difficulty_sim: float

    @property
    def median_ks(self) -> float:
        return float(np.median(self.ks[["ks_s", "ks_b"]].to_numpy()))

    @property
    def max_jet_fraction_gap(self) -> float:
        gaps = [self.jets[f"real_{j}"] - self.jets[f"sim_{j}"] for j in JET_NUMS]
        return float(np.max(np.abs(np.stack(gaps))))


def weighted_ks(a: np.ndarray, wa: np.ndarray, b: np.ndarray, wb: np.ndarray) -> float:
    """Largest distance between the weighted empirical distribution functions of two samples."""
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    grid = np.union1d(a, b)

    def cdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        cumulative = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        return cumulative[np.searchsorted(x[order], grid, side="right")]

    return float(np.max(np.abs(cdf(a, wa) - cdf(b, wb))))


def _weighted_fraction(mask: np.ndarray, weight: np.ndarray) -> float:
    return float(weight[mask].sum() / weight.sum())


def feature_distances(real: pd.DataFrame, sim: pd.DataFrame) -> pd.DataFrame:
    """Weighted KS distance of every feature per class on defined values, with each sample's undefined fraction."""
    rows = {}
    for feature in FEATURES:
        row = {}
        for label in LABELS:
            r, s = real[real["Label"] == label], sim[sim["Label"] == label]
            rv, sv = r[feature].to_numpy(float), s[feature].to_numpy(float)
            rw, sw = r["Weight"].to_numpy(float), s["Weight"].to_numpy(float)
            rd, sd = rv != MISSING, sv != MISSING
            row[f"ks_{label}"] = weighted_ks(rv[rd], rw[rd], sv[sd], sw[sd])
            row[f"undefined_real_{label}"] = _weighted_fraction(~rd, rw)
            row[f"undefined_sim_{label}"] = _weighted_fraction(~sd, sw)
        rows[feature] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def jet_fractions(real: pd.DataFrame, sim: pd.DataFrame) -> pd.DataFrame:
    """PRI_jet_num fractions per class, counting events and summing weights, real beside simulated."""
    rows = {}
    for label in LABELS:
        for weighting in ("events", "weighted"):
            row = {}
            for name, frame in (("real", real), ("sim", sim)):
                part = frame[frame["Label"] == label]
                weight = part["Weight"] if weighting == "weighted" else pd.Series(1.0, index=part.index)
                totals = weight.groupby(part["PRI_jet_num"]).sum() / weight.sum()
                row.update({f"{name}_{j}": float(totals.get(j, 0.0)) for j in JET_NUMS})
            rows[(label, weighting)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].replace(MISSING, np.nan).to_numpy(float)


def _class_balanced(frame: pd.DataFrame) -> np.ndarray:
    """Weights that make each class sum to half the events (mean 1), keeping the shapes within each class."""
    weight = frame["Weight"].to_numpy(float)
    is_signal = (frame["Label"] == "s").to_numpy()
    out = np.empty_like(weight)
    for mask in (is_signal, ~is_signal):
        out[mask] = weight[mask] / weight[mask].sum() * len(frame) / 2
    return out


def held_out_auc(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> float:
    """Weighted ROC AUC on held-out events of a default HistGradientBoostingClassifier trained on the rest.

    One thread: on small shared machines OpenMP's threads slow these small fits down rather than up."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    x_train, x_test, y_train, y_test, w_train, w_test = train_test_split(
        x, y, w, test_size=HELD_OUT, random_state=seed, stratify=y)
    with threadpool_limits(1):
        model = HistGradientBoostingClassifier(random_state=seed).fit(x_train, y_train, sample_weight=w_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1], sample_weight=w_test))


def two_sample_auc(real: pd.DataFrame, sim: pd.DataFrame, seed: int) -> float:
    """Classifier two-sample test on equal-sized samples: features plus class, each class weighted equally."""
    sim = sim.sample(n=min(len(sim), len(real)), random_state=seed)
    both = pd.concat([real, sim], ignore_index=True)
    x = np.column_stack([_matrix(both), (both["Label"] == "s").to_numpy(float)])
    y = np.repeat([1, 0], [len(real), len(sim)])
    w = np.concatenate([_class_balanced(real), _class_balanced(sim)])
    return held_out_auc(x, y, w, seed)


def difficulty(frame: pd.DataFrame, seed: int) -> float:
    """Held-out weighted AUC of signal against background: how hard the physics task is on this sample."""
    return held_out_auc(_matrix(frame), (frame["Label"] == "s").to_numpy(int), _class_balanced(frame), seed)


def compare(real: pd.DataFrame, sim: pd.DataFrame, seed: int = 0) -> Comparison:
    """The full realism report of `sim` against `real` (the difficulty uses equally many training events of each)."""
    train_sim = sim[sim["KaggleSet"] == "t"].sample(n=min(len(real), int((sim["KaggleSet"] == "t").sum())),
                                                     random_state=seed)
    return Comparison(feature_distances(real, sim), jet_fractions(real, sim), two_sample_auc(real, sim, seed),
                      difficulty(real, seed), difficulty(train_sim, seed))


def report(result: Comparison, real_name: str, sim_name: str) -> str:
    """The printed report."""
    lines = [f"real:      {real_name}", f"simulated: {sim_name}", "",
             "weighted KS distance (defined values) and undefined (-999) fraction, real/sim, per class:",
             f"{'feature':30s} {'KS s':>6s} {'KS b':>6s}   {'undef s real/sim':>17s}   {'undef b real/sim':>17s}"]
    for feature, row in result.ks.iterrows():
        undefined = [f"{row[f'undefined_real_{c}']:.3f}/{row[f'undefined_sim_{c}']:.3f}" for c in LABELS]
        lines.append(f"{feature:30s} {row['ks_s']:6.3f} {row['ks_b']:6.3f}   {undefined[0]:>17s}   {undefined[1]:>17s}")
    lines += ["", f"median KS over {len(result.ks)} features x 2 classes: {result.median_ks:.3f} (target <= 0.10); "
                  f"max {np.nanmax(result.ks[['ks_s', 'ks_b']].to_numpy()):.3f}", "",
              "PRI_jet_num fractions (real | sim):"]
    for (label, weighting), row in result.jets.iterrows():
        real = " ".join(f"{row[f'real_{j}']:.3f}" for j in JET_NUMS)
        sim = " ".join(f"{row[f'sim_{j}']:.3f}" for j in JET_NUMS)
        lines.append(f"  {label} {weighting:8s}  {real} | {sim}")
    lines += [f"largest jet-fraction gap: {result.max_jet_fraction_gap:.3f} (target <= 0.05)", "",
              f"classifier two-sample test, held-out AUC sim vs real: {result.two_sample_auc:.3f} (0.5 = "
              f"indistinguishable; target <= 0.80)",
              f"difficulty, held-out weighted AUC signal vs background: real {result.difficulty_real:.3f}, "
              f"simulated {result.difficulty_sim:.3f} (gap {result.difficulty_sim - result.difficulty_real:+.3f}; "
              f"target within 0.05)"]
    return "\n".join(lines)
