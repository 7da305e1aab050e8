"""One experiment's results across machines, the study's way: every score as mean ± standard error over machines,
every time per device; and the comparison of one experiment with another (or with the paper) with propagated
uncertainties.

Blind by default: private-leaderboard scores are not even loaded until a Result is made with `blind=False`, so no
table, printout or plot can show them by accident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modules.record import is_time
from modules.results.frame import frame, metrics_of
from modules.results.records import Dataset, Record, run_name

SCORES = ["val_ams_max", "val_ams_smooth", "test_public_ams", "test_public_ams_mean", "test_private_ams",
          "test_private_ams_mean"]
TIMES = ["train_time", "val_time", "test_time"]
NO_TTA = "_no_tta"


def is_private(metric: str) -> bool:
    return "private" in metric


def metric_order(metric: str) -> tuple[int, int, str]:
    """Sort key: the study's scores in their usual order, their no-TTA twins after them, then anything else."""
    base, variant = (metric[: -len(NO_TTA)], 1) if metric.endswith(NO_TTA) else (metric, 0)
    order = SCORES + TIMES
    return (order.index(base) if base in order else len(order), variant, metric)


@dataclass(frozen=True)
class Value:
    """A mean with its standard error (NaN where unknown) and the number of runs behind it."""

    mean: float
    se: float
    n: int

    def __str__(self) -> str:
        return format_value(self.mean, self.se)


def format_value(mean: float, se: float) -> str:
    """`mean ± se` with the error to two significant figures and the mean to the same decimals; the mean alone
    (3 decimals below 10, 1 below 1000, else none) when the error is unknown, as for a single run."""
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(se) or se <= 0:
        return f"{mean:.{3 if abs(mean) < 10 else 1 if abs(mean) < 1000 else 0}f}"
    decimals = max(0, 1 - int(math.floor(math.log10(se))))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f}"


def mean_and_error(values: list[float], own_errors: list[float | None]) -> Value:
    """Mean and standard error over runs (std with ddof=1 over sqrt(n)); a single run keeps its own error (a
    mean-over-folds metric's spread over the test folds) or none."""
    n = len(values)
    if n == 1:
        own = own_errors[0]
        return Value(values[0], float("nan") if own is None else own, 1)
    return Value(float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(n)), n)


class Result:
    """One experiment on one dataset: `scores[metric]` (mean ± SE over machines) and `times[metric][device]`."""

    def __init__(self, name: str, dataset: Dataset, scores: dict[str, Value], times: dict[str, dict[str, Value]],
                 machines: list[str], blind: bool = True, source: str = "this project") -> None:
        self.name, self.dataset, self.machines, self.blind, self.source = name, dataset, machines, blind, source
        self.scores = {m: v for m, v in sorted(scores.items(), key=lambda kv: metric_order(kv[0]))
                       if not (blind and is_private(m))}
        self.times = {m: dict(sorted(v.items())) for m, v in sorted(times.items(), key=lambda kv: metric_order(kv[0]))}

    @classmethod
    def from_records(cls, records: list[Record], blind: bool = True) -> Result:
        """Aggregate the records of one experiment on one dataset (several machines)."""
        return cls.from_table(frame(records), blind)

    @classmethod
    def from_table(cls, rows: pd.DataFrame, blind: bool = True) -> Result:
        """Aggregate rows of `results.table()` of one experiment on one dataset (several machines): every score as
        mean ± SE over the rows (one row keeps its error over the test folds), every time per device."""
        names, datasets = set(rows.experiment), set(zip(rows.dataset, rows.dataset_label, rows.simulated, strict=True))
        if len(names) != 1 or len(datasets) != 1:
            raise ValueError(f"a Result takes one experiment on one dataset, got {sorted(names)} on "
                             f"{sorted(d[1] for d in datasets)}")
        scores, times = {}, {}
        for metric in metrics_of(rows):
            having = rows[rows[metric].notna()]
            if (blind and is_private(metric)) or having.empty:
                continue
            if is_time(metric):
                times[metric] = {device: mean_and_error(list(runs[metric]), [None] * len(runs))
                                 for device, runs in having.groupby("device")}
            else:
                errors = having.get(f"{metric}_se", pd.Series(float("nan"), index=having.index))
                scores[metric] = mean_and_error(list(having[metric]), [None if pd.isna(e) else e for e in errors])
        runs = [run_name(m, s) for m, s in zip(rows.machine, rows.split_of, strict=True)]
        return cls(names.pop(), Dataset(*datasets.pop()), scores, times, sorted(runs), blind)

    @property
    def devices(self) -> list[str]:
        return sorted({d for per_device in self.times.values() for d in per_device})

    def table(self) -> pd.DataFrame:
        """The scores: one row per metric with `mean ± SE`, the numbers and how many machines."""
        rows = [(m, str(v), v.mean, v.se, v.n) for m, v in self.scores.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "mean", "se", "n"]).set_index("metric")

    def times_table(self) -> pd.DataFrame:
        """The times in seconds: one row per device, one column per time metric."""
        table = pd.DataFrame({m: {d: str(v) for d, v in per.items()} for m, per in self.times.items()})
        table.index.name = "device"
        return table

    def __repr__(self) -> str:
        lines = [f"{self.name} ({self.source}; {self.dataset.label}); machines: {', '.join(self.machines) or '-'}"
                 + ("; blind: private scores hidden" if self.blind else "")]
        lines += [f"  {m:<30} {v}  (n={v.n})" for m, v in self.scores.items()]
        for metric, per in self.times.items():
            lines += [f"  {metric:<30} {v} s  on {d}" for d, v in per.items()]
        return "\n".join(lines)

    def compare_to(self, other: Result) -> pd.DataFrame:
        """This result against `other`, metric by metric (times device by device): both values, the difference and
        the fractional difference in percent, each with its propagated standard error."""
        rows = []
        for metric, value in self.scores.items():
            if metric in other.scores:
                rows.append((metric, "", *_difference(value, other.scores[metric])))
        for metric, per in self.times.items():
            for device, value in per.items():
                if device in other.times.get(metric, {}):
                    rows.append((metric, device, *_difference(value, other.times[metric][device])))
        columns = ["metric", "device", "this", "other", "delta", "delta_se", "percent", "percent_se"]
        table = pd.DataFrame(rows, columns=columns)
        table["change"] = [f"{format_value(d, e)} ({format_value(p, pe)} %)"
                           for d, e, p, pe in zip(table.delta, table.delta_se, table.percent, table.percent_se,
                                                   strict=True)]
        return table.set_index(["metric", "device"])


def _difference(a: Value, b: Value) -> tuple[Any, ...]:
    """a - b and 100 (a / b - 1) with first-order error propagation (independent errors; NaN where unknown)."""
    delta = a.mean - b.mean
    delta_se = math.hypot(a.se, b.se)
    percent = 100 * (a.mean / b.mean - 1) if b.mean else float("nan")
    percent_se = 100 * math.hypot(a.se / b.mean, a.mean * b.se / b.mean**2) if b.mean else float("nan")
    return str(a), str(b), delta, delta_se, percent, percent_se
