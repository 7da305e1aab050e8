"""Every record as one DataFrame, a row per record: who ran what on which data and hardware, how, with which code, and
each metric (a mean-over-folds metric's standard error in `<metric>_se`). Results, comparisons, the report and the
viewing notebook are grouped views on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules import paths
from modules.results.records import Record, is_study_record, read_record

COLUMNS = ["experiment", "machine", "seed", "split_of", "dataset", "dataset_label", "simulated", "device", "engine",
           "workers", "quick", "study", "started", "finished", "schema_version", "commit", "dirty", "path"]
"""The descriptive columns, in order; the metrics follow them. `seed` is the train/validation split seed the run
used (None for a record that does not say), `split_of` the machine whose seed that was where not the run's own."""


def metrics_of(table: pd.DataFrame) -> list[str]:
    """The metric columns of a table, without their `_se` twins."""
    extra = list(table.columns[len(COLUMNS):])
    return [c for c in extra if not (c.endswith("_se") and c[:-3] in extra)]


def frame(records: list[Record]) -> pd.DataFrame:
    """The records as rows, one column per metric (and `<metric>_se` where a record has the error over folds)."""
    rows, metrics = [], {}
    for r in records:
        training = r.config.get("training", {})
        run = r.run
        row = {"experiment": r.exp_name, "machine": r.machine, "seed": run.seed if run else None,
               "split_of": r.split_of, "dataset": r.dataset.key,
               "dataset_label": r.dataset.label, "simulated": r.dataset.simulated, "device": r.hardware,
               "engine": training.get("engine", "lumin"), "workers": training.get("workers"),
               "quick": bool(r.config.get("quick", False)), "study": is_study_record(r),
               "started": run.started if run else None, "finished": run.finished if run else None,
               "schema_version": run.written_as if run else None, "commit": run.code.commit if run else None,
               "dirty": run.code.dirty if run else None, "path": str(r.path)}
        for metric in r.results:
            row[metric] = r.value(metric)
            if (se := r.fold_error(metric)) is not None:
                row[f"{metric}_se"] = se
            metrics[metric] = None
        rows.append(row)
    columns = COLUMNS + [c for m in metrics for c in (m, f"{m}_se")]
    table = pd.DataFrame(rows, columns=columns)
    table = table.drop(columns=[c for c in columns[len(COLUMNS):] if c.endswith("_se") and table[c].isna().all()
                                and c[:-3] in metrics])
    table[list(metrics)] = table[list(metrics)].astype(float)
    return table


def table(folder: Path | str | None = None) -> pd.DataFrame:
    """Every record directly in `folder` (default: the results folder), quick and reduced runs included (`study`
    says which count in comparisons); `attrs['skipped']` holds one line for each file that is not a valid record."""
    records, skipped = [], []
    for path in sorted(Path(paths.RESULTS_DIR if folder is None else folder).glob("*.json")):
        try:
            records.append(read_record(path))
        except ValueError as err:
            skipped.append(f"{path}: skipped, {err}")
    out = frame(records)
    out.attrs["skipped"] = skipped
    return out
