"""The realism report: weighted KS distances, jet fractions, classifier two-sample test and difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.cli import main as cli_main
from modules.data.compare import compare, difficulty, feature_distances, jet_fractions, report, weighted_ks
from modules.data.load import read_challenge_csv
from modules.data.simulation.simulate import simulate


def test_weighted_ks_distance() -> None:
    x = np.array([0.0, 1.0])
    assert weighted_ks(x, np.ones(2), x, np.ones(2)) == 0
    assert weighted_ks(x, np.ones(2), x + 5, np.ones(2)) == 1
    assert weighted_ks(x, np.array([1.0, 3.0]), x, np.array([3.0, 1.0])) == pytest.approx(0.5)
    assert np.isnan(weighted_ks(x[:0], x[:0], x, np.ones(2)))


@pytest.fixture(scope="module")
def two_simulations() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate(6_000, seed=1), simulate(6_000, seed=2)


def test_two_simulations_agree_with_each_other(two_simulations: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    a, b = two_simulations
    distances = feature_distances(a, b)
    assert distances[["ks_s", "ks_b"]].median().max() < 0.07
    jets = jet_fractions(a, b)
    assert np.allclose(jets.filter(like="real_").to_numpy(), jets.filter(like="sim_").to_numpy(), atol=0.05)
    assert np.allclose(jets.filter(like="real_").sum(axis=1), 1)


def test_report_on_the_real_excerpt(real_excerpt: Path, two_simulations: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    real = read_challenge_csv(real_excerpt).sample(n=4_000, random_state=0)
    result = compare(real, two_simulations[0])
    assert result.ks.shape == (30, 6)
    assert 0 < result.median_ks < 0.1
    assert result.max_jet_fraction_gap < 0.08
    assert 0.5 < result.two_sample_auc < 0.85
    text = report(result, "real", "sim")
    assert "median KS over 30 features x 2 classes" in text and "two-sample" in text


def test_simulated_task_is_as_hard_as_the_real_one(real_excerpt: Path) -> None:
    """Difficulty: a default HistGradientBoostingClassifier on held-out events, equally many real and simulated
    training-set events (10,000 each): weighted signal-background AUCs within 0.05."""
    real = read_challenge_csv(real_excerpt)
    sim = simulate(40_000, seed=5)
    sim = sim[sim["KaggleSet"] == "t"].sample(n=len(real), random_state=0)
    auc_real, auc_sim = difficulty(real, seed=0), difficulty(sim, seed=0)
    print(f"difficulty: held-out weighted AUC real {auc_real:.3f}, simulated {auc_sim:.3f}")
    assert 0.88 < auc_real < 0.94
    assert abs(auc_sim - auc_real) <= 0.05


def test_missing_real_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["data", "compare-real", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
