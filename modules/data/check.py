"""A challenge CSV's summary: rows and weight sums per KaggleSet and Label, and where -999 (undefined) appears."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modules.data.load import FORMATS
from modules.schema import MISSING

WEIGHTS = ("Weight", "KaggleWeight")
GROUPS = ("KaggleSet", "Label")


def file_format_of(df: pd.DataFrame) -> str:
    """The accepted format whose columns the loaded frame has."""
    return next(name for name, columns in FORMATS.items() if tuple(df.columns) == columns)


def group_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows and weight sums per KaggleSet and Label (whichever of them the file has); empty when it has neither."""
    keys = [c for c in GROUPS if c in df]
    if not keys:
        return pd.DataFrame()
    grouped = df.groupby(keys, observed=True)
    table = grouped.size().rename("rows").to_frame()
    for weight in WEIGHTS:
        if weight in df:
            table[f"sum {weight}"] = grouped[weight].sum()
    return table


def missing_fractions(df: pd.DataFrame) -> pd.Series:
    """Fraction of rows holding -999 in each column that has any, largest first."""
    numeric = df.select_dtypes("number")
    fractions = (numeric == MISSING).mean()
    return fractions[fractions > 0].sort_values(ascending=False, kind="stable")


def summary(path: Path, df: pd.DataFrame) -> str:
    """The report `higgsml data check` prints."""
    lines = [f"{path}: valid, {file_format_of(df)} format, {len(df):,} rows, {df.shape[1]} columns"]
    table = group_table(df)
    if not table.empty:
        lines += ["", table.to_string(float_format=lambda v: f"{v:,.3f}")]
    fractions = missing_fractions(df)
    lines += ["", "-999 (undefined) fraction per column:"]
    lines += [f"  {name:28s} {fraction:7.2%}" for name, fraction in fractions.items()] or ["  none"]
    return "\n".join(lines)
