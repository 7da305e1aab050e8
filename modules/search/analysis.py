"""The search's analysis: every machine's trials as one table, scores against model size, Gaussian processes over
(depth, width, growth rate, weight decay, dropout) fitted to the validation and test scores with scikit-optimize and
drawn with its own plotting functions, and the most promising architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules import plots
from modules.search.space import NAMES, Params, dimensions
from modules.search.trials import TrialStore

SCORES = {"val_ams_smooth": "Validation AMS at cut", "test_public_ams_mean": "Public AMS, mean of folds"}


def trials_table(folder: Path) -> pd.DataFrame:
    """One row per complete trial of any machine; unreadable files are named and skipped."""
    trials, skipped = TrialStore(folder).load()
    for line in skipped:
        print(line)
    rows = []
    for t in trials:
        scores = {k: (v[0] if isinstance(v, list) else v) for k, v in t["scores"].items() if k in SCORES}
        dataset = t.get("dataset", {})
        rows.append({"machine": t["machine"], "index": t["index"], "proposer": t.get("proposer", "random"),
                     "label": t.get("label", Params(**t["params"]).label), **t["params"],
                     "n_parameters": t.get("n_parameters"), **scores,
                     "dataset": "+".join(str(s) for s in dataset.get("sha1", [])) or "unknown",
                     "simulated": bool(dataset.get("simulated", False))})
    columns = ["machine", "index", "proposer", "label", *NAMES, "n_parameters", *SCORES, "dataset", "simulated"]
    return pd.DataFrame(rows, columns=columns).sort_values(["machine", "index"], ignore_index=True)


def one_dataset(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The trials of the dataset with the most trials (trials on different data are never analysed together), and
    how plots should name it; one line for each dataset left out."""
    if table.empty:
        return table, "no trials"
    counts = table.dataset.value_counts()
    chosen = counts.index[0]
    for other, n in counts.iloc[1:].items():
        print(f"{n} trials on another dataset ({other[:12]}...) left out")
    subset = table[table.dataset == chosen].reset_index(drop=True)
    return subset, "SIMULATED" if subset.simulated.iloc[0] else "real data"


def plot_scores_vs_size(table: pd.DataFrame, stem: Path, dataset: str) -> list[Path]:
    """Each trial's validation and test score against its number of trainable parameters."""
    import matplotlib.pyplot as plt

    with plots.style():
        fig, ax = plt.subplots(figsize=(8, 6))
        for score, label in SCORES.items():
            ax.scatter(table.n_parameters, table[score], label=label, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("Trainable parameters")
        ax.set_ylabel("AMS")
        ax.legend(title=f"{len(table)} trials, {table.machine.nunique()} machine(s); {dataset}", fontsize=10,
                  title_fontsize=10)
        written = plots.save_figure(fig, stem)
        plt.close(fig)
    return written


def fit_gp(table: pd.DataFrame, score: str, seed: int = 0) -> Any:
    """A Gaussian process over the space fitted to `score` (maximised, so its negative is the objective), as
    scikit-optimize's OptimizeResult."""
    from skopt import Optimizer

    known = table[np.isfinite(table[score].astype(float))]
    if len(known) < 2:
        raise ValueError(f"a Gaussian process needs at least 2 trials with {score}, got {len(known)}")
    optimizer = Optimizer(dimensions(), base_estimator="GP", n_initial_points=1, random_state=seed)
    optimizer.tell([Params(*(row[n] for n in NAMES)).as_list() for _, row in known.iterrows()],
                   [-float(v) for v in known[score]])
    return optimizer.get_result()


def plot_gp(result: Any, stem: Path, kind: str) -> list[Path]:
    """scikit-optimize's own view of a fitted GP: `evaluations` (where the trials went) or `objective` (partial
    dependence of the negated score on each parameter and pair)."""
    import matplotlib.pyplot as plt
    from skopt.plots import plot_evaluations, plot_objective

    axes = (plot_evaluations if kind == "evaluations" else plot_objective)(result, dimensions=list(NAMES))
    fig = np.atleast_1d(axes).ravel()[0].figure
    written = plots.save_figure(fig, stem)
    plt.close(fig)
    return written


def promising(table: pd.DataFrame, result: Any, score: str, n: int = 5) -> pd.DataFrame:
    """The tried architectures ranked by the GP's smoothed prediction of `score` (less swayed by one lucky run than
    the raw score), with the GP's own best guess of the optimum first."""
    from skopt import expected_minimum

    model, space = result.models[-1], result.space
    points = [Params(*(row[n_] for n_ in NAMES)).as_list() for _, row in table.iterrows()]
    predicted = -model.predict(space.transform(points))
    ranked = table.assign(predicted=predicted).sort_values("predicted", ascending=False).head(n)
    best_point, best_value = expected_minimum(result, random_state=0)
    best = Params.from_list(best_point)
    guess = pd.DataFrame([{"label": f"GP optimum {best.label}", **best.as_dict(), "predicted": -best_value}])
    return pd.concat([guess, ranked[["label", *NAMES, "n_parameters", score, "predicted"]]], ignore_index=True)
