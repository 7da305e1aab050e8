"""The feature studies' functions on a small table whose answers are known: the informative feature ranks first, a
copy of it is found dependent, labels carry units. Fast, so every Python's stack (rfpimp and LUMIN's importance on
numpy 2 and pandas 2.2 too) is checked by the fast tier; the notebooks that use them are in the slow tier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modules import features


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """600 events: `signal` separates the classes, `copy` is twice `signal`, `noise` and `flat` carry nothing."""
    rng = np.random.default_rng(3)
    target = (rng.random(600) < 0.5).astype(int)
    signal = rng.normal(size=600) + 2.0 * target
    return pd.DataFrame({"signal": signal, "copy": 2 * signal, "noise": rng.normal(size=600), "flat": 1.0,
                         "gen_target": target, "gen_weight": rng.uniform(0.5, 1.5, size=600)})


def test_labels_have_units_and_unknown_names_stay_as_they_are() -> None:
    assert features.label("PRI_lep_px") == r"$p_x(\ell)$ [GeV]"
    assert features.label("DER_mass_MMC").endswith("[GeV]") and features.label("something_else") == "something_else"


def test_the_informative_feature_ranks_first_and_the_constant_one_is_found(table: pd.DataFrame) -> None:
    train, val = features.split(table)
    assert len(val) == 120 and abs(val.gen_target.mean() - table.gen_target.mean()) < 0.01
    ranking = features.permutation_importance(train, val, ["signal", "noise"], n_estimators=20)
    assert list(ranking.Feature) == ["signal", "noise"] and ranking.Importance[0] > 0.1
    assert features.constant_features(table, ["signal", "flat", "noise"]) == ["flat"]


def test_a_copy_is_found_dependent_and_correlated(table: pd.DataFrame) -> None:
    feats = ["signal", "copy", "noise"]
    assert features.spearman(table, feats).loc["signal", "copy"] == pytest.approx(1.0)
    dependence = features.dependence(table, feats, n_estimators=20, n_samples=500)
    assert dependence.loc["copy", "Dependence"] > 0.9 and dependence.loc["noise", "Dependence"] < 0.5
