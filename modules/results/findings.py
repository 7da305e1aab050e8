"""The paper's findings tested here: for each technique the report compares (an experiment against the one it adds
to), its effect on the public AMS (mean of folds) here as the difference of the means over seeds, paired by seed
where both experiments ran with the same seeds, beside the paper's difference over its machines, and whether the two
agree within two combined standard errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from modules import plots
from modules.results.paper import paper_result
from modules.results.result import Value, format_value, mean_and_error
from modules.results.study import Step

METRIC = "test_public_ams_mean"
"""The score a finding is judged on: public, so the test holds blind, and averaged over test folds as the study's
tables are."""
AGREEMENT = 2.0
"""Two results agree when they differ by at most this many combined standard errors."""


@dataclass(frozen=True)
class Delta:
    """A difference with its standard error, how many seeds (or machines) are behind it and whether it was paired."""

    mean: float
    se: float
    n: int
    paired: bool = False

    def __str__(self) -> str:
        return format_value(self.mean, self.se)


def independent(a: Value, b: Value) -> Delta:
    """a − b with the errors combined as independent: sqrt(se_a² + se_b²)."""
    return Delta(a.mean - b.mean, math.hypot(a.se, b.se), min(a.n, b.n))


def paired(differences: list[float]) -> Delta:
    """The mean of per-seed differences with its standard error std(ddof=1) / sqrt(n)."""
    n = len(differences)
    return Delta(float(np.mean(differences)), float(np.std(differences, ddof=1) / math.sqrt(n)), n, True)


def agrees(here: Delta, paper: Delta, within: float = AGREEMENT) -> bool | None:
    """Whether |Δ here − Δ paper| <= `within` · sqrt(se_here² + se_paper²); None where an error is unknown."""
    combined = math.hypot(here.se, paper.se)
    if not math.isfinite(combined) or combined <= 0:
        return None
    return abs(here.mean - paper.mean) <= within * combined


def per_seed(rows: pd.DataFrame, metric: str = METRIC) -> dict[object, tuple[float, float | None]]:
    """Seed -> (value, its error over test folds) of one experiment's rows; a record without a seed (an old one)
    counts under its machine's name, and several runs with one seed are averaged."""
    found: dict[object, list[tuple[float, float | None]]] = {}
    if metric not in rows:
        return {}
    for row in rows[rows[metric].notna()].itertuples():
        key = row.seed if pd.notna(row.seed) else row.machine
        error = getattr(row, f"{metric}_se", None)
        found.setdefault(key, []).append((float(getattr(row, metric)), None if pd.isna(error) else float(error)))
    return {key: (float(np.mean([v for v, _ in runs])), runs[0][1] if len(runs) == 1 else None)
            for key, runs in found.items()}


def delta_here(after: pd.DataFrame, before: pd.DataFrame, metric: str = METRIC) -> Delta | None:
    """after − before here: paired over the seeds both ran where they share at least two, else the difference of
    the means over seeds with independent errors (a single run's error being its spread over test folds)."""
    a, b = per_seed(after, metric), per_seed(before, metric)
    if not a or not b:
        return None
    shared = [key for key in a if key in b]
    if len(shared) >= 2:
        return paired([a[key][0] - b[key][0] for key in shared])
    return independent(*(mean_and_error([v for v, _ in s.values()], [e for _, e in s.values()]) for s in (a, b)))


def delta_paper(step: Step, blind: bool = True, metric: str = METRIC) -> Delta | None:
    """The paper's difference between the step's experiment and the one it adds to (independent errors: the paper
    published means over its machines, not the machines' pairs)."""
    now, before = paper_result(step.name, blind), paper_result(step.compare_to or "", blind)
    if now is None or before is None or metric not in now.scores or metric not in before.scores:
        return None
    return independent(now.scores[metric], before.scores[metric])


@dataclass(frozen=True)
class Finding:
    """One technique: its step, the effect here (None where not run) and in the paper (None for a technique beyond
    the paper), and whether they agree."""

    step: Step
    here: Delta | None
    paper: Delta | None

    @property
    def agrees(self) -> bool | None:
        return None if self.here is None or self.paper is None else agrees(self.here, self.paper)

    @property
    def verdict(self) -> str:
        """How the report's table says it: yes, no, or why it cannot tell."""
        if self.paper is None:
            return "–"
        if self.here is None:
            return "not run here"
        return {True: "yes", False: "**no**", None: "no error known"}[self.agrees]


def findings(rows: pd.DataFrame, study: list[Step], blind: bool = True) -> list[Finding]:
    """Every technique of the study (an experiment with a predecessor), tested on one dataset's rows of
    `results.table()`; those the paper measured are its findings."""
    out = []
    for step in study:
        if not step.compare_to:
            continue
        after, before = rows[rows.experiment == step.name], rows[rows.experiment == step.compare_to]
        out.append(Finding(step, delta_here(after, before), delta_paper(step, blind)))
    return out


def summary(found: list[Finding]) -> str:
    """The one line that answers the paper's questions: `n of N findings reproduced` (N: the techniques the paper
    measured), and how many were not run or could not be judged."""
    found = [f for f in found if f.paper is not None]
    reproduced = sum(f.agrees is True for f in found)
    missing = sum(f.here is None for f in found)
    unknown = sum(f.here is not None and f.agrees is None for f in found)
    single = sum(f.here is not None and f.agrees is not None and f.here.n == 1 for f in found)
    notes = [f"{missing} not run here"] * bool(missing) + [f"{unknown} without an error to judge by"] * bool(unknown)
    notes += [f"{single} judged on single runs, whose errors are their spread over the test folds, not over "
              f"seeds"] * bool(single)
    return (f"{reproduced} of {len(found)} findings reproduced (Δ here within {AGREEMENT:g} combined standard errors "
            f"of Δ paper)" + (f"; {', '.join(notes)}" if notes else ""))


def plot(found: list[Finding], stem: Path, dataset_label: str) -> list[Path]:
    """Δ here against Δ paper with their error bars, each point labelled with its experiment's number, and the line
    where they are equal; saved as PNG and PDF."""
    import matplotlib.pyplot as plt

    shown = [f for f in found if f.here is not None and f.paper is not None]
    with plots.style():
        fig, ax = plt.subplots(figsize=(8, 7))
        if shown:
            x, y = [f.paper.mean for f in shown], [f.here.mean for f in shown]  # type: ignore[union-attr]
            xerr = [f.paper.se for f in shown]  # type: ignore[union-attr]
            yerr = [f.here.se if math.isfinite(f.here.se) else 0.0 for f in shown]  # type: ignore[union-attr]
            colours = [{True: "tab:blue", False: "tab:red", None: "tab:grey"}[f.agrees] for f in shown]
            for xi, yi, xe, ye, colour, f in zip(x, y, xerr, yerr, colours, shown, strict=True):
                ax.errorbar(xi, yi, xerr=xe, yerr=ye, fmt="o", color=colour, capsize=3)
                ax.annotate(str(f.step.number), (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=9)
            low, high = min(x + y), max(x + y)
            pad = 0.1 * (high - low or 1.0)
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle="--", linewidth=1,
                    label="Δ here = Δ paper")
        ax.set_xlabel("Δ public AMS (mean of folds), paper (real data)")
        ax.set_ylabel("Δ public AMS (mean of folds), here")
        ax.legend(title=f"{dataset_label}\nblue: agree within {AGREEMENT:g} SE; red: not; grey: no error known",
                  fontsize=9, title_fontsize=9, loc="upper left")
        written = plots.save_figure(fig, stem)
        plt.close(fig)
    return written
