"""The realism report: weighted KS distances, jet fractions, classifier two-sample test and difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.cli import main as cli_main
from modules.data.compare import compare, feature_distances, jet_fractions, report, weighted_ks
from modules.data.load import read_challenge_csv
from modules.data.simulate import simulate


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
    assert distances[["ks_s", "ks_b"]].median().max() < 0.05
    jets = jet_fractions(a, b)
    assert np.allclose(jets.filter(like="real_").to_numpy(), jets.filter(like="sim_").to_numpy(), atol=0.05)
    assert np.allclose(jets.filter(like="real_").sum(axis=1), 1)


def test_report_on_the_real_excerpt(real_excerpt: Path, two_simulations: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    real = read_challenge_csv(real_excerpt).sample(n=4_000, random_state=0)
    result = compare(real, two_simulations[0])
    assert result.ks.shape == (30, 6)
    assert 0 < result.median_ks < 0.2
    assert 0.5 < result.two_sample_auc < 1
    assert 0.8 < result.difficulty_real < 0.95
    assert abs(result.difficulty_sim - result.difficulty_real) < 0.1
    text = report(result, "real", "sim")
    assert "median KS over 30 features x 2 classes" in text and "two-sample" in text


def test_missing_real_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["data", "compare-real", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
