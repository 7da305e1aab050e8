"""Valid rows of the official format built from random numbers, for tests that need a small file to load or break."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modules.data.kinematics import derived_features
from modules.schema import MISSING, OPENDATA_COLUMNS, UNDEFINED_WITHOUT_LEADING_JET, UNDEFINED_WITHOUT_TWO_JETS


def synthetic_rows(n: int = 12, seed: int = 3) -> pd.DataFrame:
    """`n` valid rows in the Open Data format, jet counts cycling through 0..3, with consistent -999 patterns."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"EventId": np.arange(100_000, 100_000 + n), "PRI_jet_num": np.arange(n) % 4})
    for obj, pt_min, eta_max in (("tau", 20, 2.5), ("lep", 26, 2.5), ("jet_leading", 30, 4.5),
                                 ("jet_subleading", 30, 4.5)):
        df[f"PRI_{obj}_pt"] = pt_min + rng.exponential(30, n)
        df[f"PRI_{obj}_eta"] = rng.uniform(-eta_max, eta_max, n)
        df[f"PRI_{obj}_phi"] = rng.uniform(-np.pi, np.pi, n)
    df["PRI_met"], df["PRI_met_phi"] = rng.exponential(30, n), rng.uniform(-np.pi, np.pi, n)
    df["PRI_met_sumet"] = 100 + rng.exponential(150, n)
    df["PRI_jet_all_pt"] = np.where(df.PRI_jet_num > 0, df.PRI_jet_leading_pt, 0.0)
    df.loc[df.PRI_jet_num >= 2, "PRI_jet_all_pt"] += df.PRI_jet_subleading_pt
    df = pd.concat([df, derived_features(df)], axis=1)
    df["DER_mass_MMC"] = np.where(np.arange(n) % 5 == 4, MISSING, 60 + rng.exponential(60, n))
    df.loc[df.PRI_jet_num == 0, list(UNDEFINED_WITHOUT_LEADING_JET)] = MISSING
    df.loc[df.PRI_jet_num <= 1, list(UNDEFINED_WITHOUT_TWO_JETS)] = MISSING
    df["Weight"] = rng.uniform(0.001, 2, n)
    df["Label"] = np.where(np.arange(n) % 3 == 0, "s", "b")
    df["KaggleSet"] = np.array(["t", "b", "v", "u"])[np.arange(n) // 3 % 4]
    df["KaggleWeight"] = df.Weight * 3.27
    return df[list(OPENDATA_COLUMNS)]


def write(df: pd.DataFrame, path: Path) -> Path:
    """Write rows as the official file does: 3 decimals, -999.0, integers for EventId and PRI_jet_num."""
    df.to_csv(path, index=False, float_format="%.3f")
    return path
