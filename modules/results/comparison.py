"""Several experiments side by side, as the study summarised them: the AMS evolution over the experiments with the
Kaggle winners' private scores drawn as lines, absolute and relative times per device, and a LaTeX table row per
experiment. Plots are saved as PNG and PDF and name the dataset in their legend; blind Results carry no private
scores, so none can be drawn."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from modules import plots
from modules.results.paper import KAGGLE_TOP3
from modules.results.result import Result, format_value

AMS_CURVES = {"val_ams_smooth": "Val. AMS at cut", "test_public_ams": "Public AMS",
              "test_public_ams_mean": "Public AMS, mean of folds", "test_private_ams": "Private AMS",
              "test_private_ams_mean": "Private AMS, mean of folds"}
TIME_LABELS = {"train_time": "Train time", "val_time": "Validation time", "test_time": "Test time"}


class ExpComp:
    """Results of several experiments on one dataset, in order, optionally beside reference Results (the paper's)
    keyed by experiment name; `labels` are the x-axis names (default: the experiment names)."""

    def __init__(self, results: list[Result], references: dict[str, Result] | None = None,
                 labels: list[str] | None = None) -> None:
        if len({r.dataset for r in results}) > 1:
            raise ValueError("an ExpComp shows one dataset: results on different data are never put together")
        self.results, self.references = results, references or {}
        self.labels = labels or [r.name for r in results]
        self.blind = any(r.blind for r in results)

    @property
    def dataset_label(self) -> str:
        return self.results[0].dataset.label if self.results else "no results"

    def plot_ams(self, stem: Path) -> list[Path]:
        """The scores of every experiment in order (this project solid, the reference dashed), with the Kaggle top
        three private scores as horizontal lines."""
        import matplotlib.pyplot as plt

        x = np.arange(len(self.results))
        with plots.style():
            fig, ax = plt.subplots(figsize=(max(8, 0.8 * len(x) + 4), 6.5))
            for i, (metric, label) in enumerate(AMS_CURVES.items()):
                if not any(metric in r.scores for r in self.results):
                    continue
                colour = f"C{i}"
                ax.errorbar(x, *self._series(self.results, metric), color=colour, marker="o", capsize=3, label=label)
                reference = [self.references.get(r.name) for r in self.results]
                if any(ref is not None and metric in ref.scores for ref in reference):
                    ax.errorbar(x, *self._series(reference, metric), color=colour, marker="s", linestyle="--",
                                capsize=3, alpha=0.6, label=f"{label} (paper, real data)")
            for j, (rank, score) in enumerate(KAGGLE_TOP3):
                ax.axhline(score, color="grey", linestyle=[":", "-.", (0, (1, 3))][j], linewidth=1,
                           label=f"Kaggle {rank} private AMS = {score}")
            _experiment_axis(ax, self.labels)
            ax.set_ylabel("AMS")
            ax.legend(title=self.dataset_label + ("; blind" if self.blind else ""), fontsize=9, title_fontsize=9,
                      loc="upper left", bbox_to_anchor=(1.01, 1))
            written = plots.save_figure(fig, stem)
            plt.close(fig)
        return written

    def plot_times(self, stem: Path, metric: str = "train_time", mode: str = "abs") -> list[Path]:
        """A time metric per device over the experiments: absolute (s), or relative to the first experiment
        measured on that device as a difference (`delta`, s) or a fraction (`frac`)."""
        import matplotlib.pyplot as plt

        ylabel = {"abs": f"{TIME_LABELS.get(metric, metric)} [s]",
                  "delta": f"{TIME_LABELS.get(metric, metric)} - first experiment's [s]",
                  "frac": f"{TIME_LABELS.get(metric, metric)} / first experiment's - 1"}[mode]
        references = [self.references.get(r.name) for r in self.results]
        series = [(d, self.results, {}) for d in sorted({d for r in self.results for d in r.times.get(metric, {})})]
        series += [(d, references, {"linestyle": "--", "alpha": 0.5, "marker": "s"})
                   for d in sorted({d for r in references if r is not None for d in r.times.get(metric, {})})]
        x = np.arange(len(self.results))
        with plots.style():
            fig, ax = plt.subplots(figsize=(max(8, 0.8 * len(x) + 4), 6.5))
            for device, results, style in series:
                values = np.array([_time(r, metric, device) if r is not None else np.nan for r in results])
                known = np.isfinite(values)
                if not known.any():
                    continue
                base = values[known][0]
                shown = {"abs": values, "delta": values - base, "frac": values / base - 1}[mode]
                label = f"{device} (paper, real data)" if style else device
                ax.plot(x[known], shown[known], **{"marker": "o", **style}, label=label)
            _experiment_axis(ax, self.labels)
            ax.set_ylabel(ylabel)
            if mode == "abs":
                ax.set_ylim(bottom=0)
            ax.legend(title=self.dataset_label, fontsize=9, title_fontsize=9, loc="upper left",
                      bbox_to_anchor=(1.01, 1))
            written = plots.save_figure(fig, stem)
            plt.close(fig)
        return written

    def latex_rows(self, base: Result | None = None) -> list[str]:
        """One LaTeX table row per experiment: val. AMS max and at cut, public AMS (mean of folds) (and the private
        one when unblinded), and the train and test times relative to `base` (default: the first experiment),
        averaged over the devices both were timed on."""
        base = base or self.results[0]
        metrics = ["val_ams_max", "val_ams_smooth", "test_public_ams_mean"]
        if not self.blind:
            metrics.append("test_private_ams_mean")
        rows = []
        for result in self.results:
            cells = [result.name.replace("_", r"\_")]
            for metric in metrics:
                value = result.scores.get(metric)
                cells.append(_latex(value.mean, value.se) if value else "--")
            for metric in ("train_time", "test_time"):
                ratios = [_time(result, metric, d) / _time(base, metric, d) - 1 for d in result.times.get(metric, {})
                          if math.isfinite(_time(base, metric, d))]
                if ratios:
                    se = np.std(ratios, ddof=1) / math.sqrt(len(ratios)) if len(ratios) > 1 else float("nan")
                    cells.append(_latex(float(np.mean(ratios)), se))
                else:
                    cells.append("--")
            rows.append(" & ".join(cells) + r" \\")
        return rows

    @staticmethod
    def _series(results: list[Result | None], metric: str) -> tuple[np.ndarray, np.ndarray]:
        means = [r.scores[metric].mean if r is not None and metric in r.scores else np.nan for r in results]
        errors = [r.scores[metric].se if r is not None and metric in r.scores else np.nan for r in results]
        return np.array(means), np.nan_to_num(np.array(errors))


def _experiment_axis(ax: Any, labels: list[str]) -> None:
    """Experiments along x, named, with room at both ends."""
    ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=12)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_xlabel("Experiment")


def _latex(mean: float, se: float) -> str:
    return "$" + format_value(mean, se).replace("±", r"\pm") + "$"


def _time(result: Result, metric: str, device: str) -> float:
    value = result.times.get(metric, {}).get(device)
    return value.mean if value is not None else float("nan")
