"""The paper's published numbers as this project's reference: `paper_reference.csv` beside this file holds, for
every experiment of G. Strong (2020), arXiv:2002.01427, each score's mean and standard error over the paper's machines
(std with ddof=1 over sqrt(n)) and each time on each machine, derived from the per-machine result files the paper
published with its code (GilesStrong/HiggsML_Lumin, paper_results/). Rows name this project's experiment where it
has one. The ablations 38-41 had no test-time augmentation and recorded their scores under `_no_tta` names; here they
carry the plain names, as this project records them. As the original's `Result` class, only the six named machines
count (helios_cuda, helios_cpu, mbp, daedalus, icarus, morpheus): the extra, misspelt `42_baseline+aug_icaurs.json`
is left out. `python -m modules.commands.paper_build FOLDER` rebuilds the CSV from the published files
(`modules/results/paper_build.py`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd

from modules.results.records import PAPER
from modules.results.result import Result, Value

REFERENCE = Path(__file__).with_name("paper_reference.csv")

KAGGLE_TOP3 = (("1st", 3.80581), ("2nd", 3.78912), ("3rd", 3.78682))
"""The Kaggle challenge's private-leaderboard AMS of the three winning solutions."""


@lru_cache(maxsize=1)
def reference_table() -> pd.DataFrame:
    return pd.read_csv(REFERENCE, dtype={"experiment": str}, keep_default_na=False, na_values={"se": [""]})


def paper_result(experiment: str, blind: bool = True) -> Result | None:
    """The paper's Result for one of this project's experiments (or a paper-only name such as 33_search_4-40-0.45);
    None when the paper has no such experiment."""
    table = reference_table()
    rows = table[(table.experiment == experiment) | (table.paper_name == experiment)]
    if rows.empty:
        return None
    scores, times = {}, {}
    for row in rows.itertuples():
        se = float(row.se) if row.se == row.se and row.se != "" else math.nan
        if row.machine == "mean":
            scores[row.metric] = Value(float(row.value), se, int(row.n))
        else:
            times.setdefault(row.metric, {})[row.machine] = Value(float(row.value), math.nan, 1)
    machines = sorted({m for per in times.values() for m in per})
    return Result(experiment, PAPER, scores, times, machines, blind=blind, source=f"paper, {rows.paper_name.iloc[0]}")
