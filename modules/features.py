"""The feature studies (notebooks Feature_Selection, Feature_Selection-Full and Feature_plotting): the prepared
training data back in physical units, the study's feature groups, random-forest permutation importance with event
weights, correlation and mutual-dependence heatmaps, and physics axis labels for the key features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules import plots
from modules.data import sources
from modules.data.identity import is_simulated
from modules.data.prepare import PreparedData, PrepareOptions, prepare

SEED = 1337
"""The original data import's default seed, which its feature notebooks used."""

LABELS = {
    "DER_mass_MMC": r"$m_{\tau\tau}$ (MMC) [GeV]",
    "DER_mass_transverse_met_lep": r"$m_T(\ell, E_T^{\mathrm{miss}})$ [GeV]",
    "DER_mass_vis": r"$m_{\mathrm{vis}}(\ell, \tau_h)$ [GeV]",
    "DER_pt_h": r"$p_T(\ell + \tau_h + E_T^{\mathrm{miss}})$ [GeV]",
    "DER_deltar_tau_lep": r"$\Delta R(\tau_h, \ell)$",
    "PRI_met_sumet": r"$\sum E_T$ [GeV]",
    "PRI_met_pt": r"$E_T^{\mathrm{miss}}$ [GeV]",
    "PRI_tau_pt": r"$p_T(\tau_h)$ [GeV]",
    "PRI_lep_pt": r"$p_T(\ell)$ [GeV]",
    "PRI_jet_all_pt": r"$\sum p_T(\mathrm{jets})$ [GeV]",
}
"""Axis labels with units; momentum components are labelled by `label()`."""

OBJECTS = {"PRI_tau": r"\tau_h", "PRI_lep": r"\ell", "PRI_met": r"E_T^{\mathrm{miss}}", "PRI_jet_leading": "j_1",
           "PRI_jet_subleading": "j_2"}


def label(feature: str) -> str:
    """A physics axis label with its unit, e.g. 'PRI_lep_px' -> '$p_x(\\ell)$ [GeV]'."""
    if feature in LABELS:
        return LABELS[feature]
    obj, _, component = feature.rpartition("_")
    if obj in OBJECTS and component in ("px", "py", "pz"):
        return rf"$p_{component[1]}({OBJECTS[obj]})$ [GeV]"
    return feature


@dataclass
class FeatureData:
    """The training split of a prepared data set as one table in physical units, with where it came from."""

    table: pd.DataFrame
    feats: list[str]
    source: sources.DataSource
    prepared: PreparedData

    @property
    def dataset_label(self) -> str:
        """How plots name the data: 'SIMULATED' or 'real data'."""
        return "SIMULATED" if any(is_simulated(f) for f in self.prepared.dataset["files"]) else "real data"

    def groups(self) -> dict[str, list[str]]:
        """The study's groups: high-level (DER_), low-level (PRI_) and the Cartesian momentum components."""
        return {"high-level": [f for f in self.feats if f.startswith("DER_")],
                "low-level": [f for f in self.feats if f.startswith("PRI_")],
                "momenta": [f for f in self.feats if f.rsplit("_", 1)[-1] in ("px", "py", "pz")]}


def load(dataset: str = "auto", quick: bool = False, seed: int = SEED, nan_to_num: bool = True) -> FeatureData:
    """Prepare the data as the study's import did (no categorical features, Cartesian momenta) and read the training
    folds back in physical units; quick mode uses a few thousand events of a small simulated file."""
    from lumin.nn.data.fold_yielder import FoldYielder

    from modules.session import FULL, QUICK

    scale = QUICK if quick else FULL
    source = sources.resolve(dataset, events=scale.simulated_events)
    print(source.description)
    prepared = prepare(source, PrepareOptions(seed=seed, max_events=scale.max_events))
    fy = FoldYielder(prepared.train, input_pipe=prepared.input_pipe)
    try:
        table = fy.get_df(inc_inputs=True, deprocess=True, suppress_warn=True, nan_to_num=nan_to_num)
        feats = fy.cont_feats + fy.cat_feats
    finally:
        fy.close()
    print(f"{len(table)} training events, {len(feats)} features")
    return FeatureData(table, feats, source, prepared)


def split(table: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80/20 train/validation split stratified on the target, as the study's feature notebooks did."""
    from sklearn.model_selection import train_test_split

    return train_test_split(table, test_size=0.2, random_state=seed, stratify=table.gen_target)


def permutation_importance(train: pd.DataFrame, val: pd.DataFrame, feats: list[str], n_estimators: int = 40,
                           min_samples_leaf: int = 8, seed: int = 0) -> pd.DataFrame:
    """Weighted random forest on `train`, permutation importance on `val` (LUMIN's `get_rf_feat_importance`), features
    from most to least important."""
    from lumin.optimisation.features import get_rf_feat_importance
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, n_jobs=-1,
                                    random_state=seed)
    forest.fit(train[feats], train.gen_target, sample_weight=train.gen_weight)
    table = get_rf_feat_importance(forest, val[feats], val.gen_target.to_numpy(), val.gen_weight.to_numpy())
    return table.sort_values("Importance", ascending=False, ignore_index=True)


def spearman(table: pd.DataFrame, feats: list[str]) -> pd.DataFrame:
    """Spearman's rank-order correlation between the features."""
    return table[feats].corr(method="spearman")


def dependence(table: pd.DataFrame, feats: list[str], n_estimators: int = 40, n_samples: int = 5000) -> pd.DataFrame:
    """How well each feature is predicted from the others (rfpimp's dependence matrix: a forest per feature, its
    out-of-bag R^2 and each other feature's importance to it)."""
    from rfpimp import feature_dependence_matrix
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    return feature_dependence_matrix(table[feats], rfrmodel=RandomForestRegressor(n_estimators, oob_score=True),
                                     rfcmodel=RandomForestClassifier(n_estimators, oob_score=True),
                                     sort_by_dependence=False, n_samples=n_samples)


def heatmap(matrix: pd.DataFrame, stem: Path, title: str, dataset: str, vmin: float = -1.0) -> list[Path]:
    """A labelled matrix of values as a colour map with the numbers written in, saved as PNG and PDF."""
    import matplotlib.pyplot as plt

    values = matrix.to_numpy(float)
    with plots.style():
        size = max(6.0, 0.55 * len(matrix.columns) + 2)
        fig, ax = plt.subplots(figsize=(size + 1.5, size))
        image = ax.imshow(values, cmap="RdBu_r" if vmin < 0 else "viridis", vmin=vmin, vmax=1)
        ax.set_xticks(np.arange(values.shape[1]), matrix.columns, rotation=90, fontsize=9)
        ax.set_yticks(np.arange(values.shape[0]), matrix.index, fontsize=9)
        ax.minorticks_off()
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set_title(f"{title} ({dataset})", fontsize=12)
        written = plots.save_figure(fig, stem)
        plt.show()
        plt.close(fig)
    return written


def constant_features(table: pd.DataFrame, feats: list[str]) -> list[str]:
    """Features with a single value in the table (they carry no information)."""
    return [f for f in feats if table[f].nunique(dropna=False) <= 1]


def distribution(data: FeatureData, feature: str, stem: Path, **kwargs: Any) -> list[Path]:
    """The weighted, unit-normalised distribution of `feature` for signal and background."""
    table = data.table
    return plots.class_distributions(table[feature], table.gen_target, table.gen_weight, label(feature), stem,
                                     data.dataset_label, **kwargs)
