"""The AMS, the study's cut and test-set scoring, against hand-computed values and LUMIN's own implementation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modules import scoring


def hand_ams(s: float, b: float, br: float = 10.0) -> float:
    return math.sqrt(2 * ((s + b + br) * math.log(1 + s / (b + br)) - s))


@pytest.mark.parametrize(("s", "b"), [(100.0, 1000.0), (3.5, 0.2), (0.0, 50.0), (5.0, 0.0), (691.989, 410999.847)])
def test_ams_matches_the_formula(s: float, b: float) -> None:
    assert scoring.ams(s, b) == pytest.approx(hand_ams(s, b), rel=1e-8)


def test_ams_edge_cases() -> None:
    assert scoring.ams(0.0, 123.0) == 0.0
    assert scoring.ams(0.0, 0.0) == 0.0
    # b + b_r small: s = 10, b = 0 -> sqrt(2 * (20 ln 2 - 10))
    assert scoring.ams(10.0, 0.0) == pytest.approx(math.sqrt(2 * (20 * math.log(2) - 10)), rel=1e-12)
    assert scoring.ams(10.0, 0.0, br=0.001) == pytest.approx(hand_ams(10.0, 0.0, 0.001), rel=1e-12)
    # the large-b limit approaches s / sqrt(b)
    assert scoring.ams(10.0, 1e8) == pytest.approx(10.0 / math.sqrt(1e8), rel=1e-3)


def test_ams_at_each_prediction_treats_ties_together() -> None:
    pred = np.array([0.9, 0.8, 0.8, 0.1])
    target = np.array([1, 1, 0, 0])
    weight = np.array([2.0, 3.0, 4.0, 5.0])
    got = scoring.ams_at_each_prediction(pred, target, weight)
    expected = [hand_ams(2, 0), hand_ams(5, 4), hand_ams(5, 4), hand_ams(5, 9)]
    assert got == pytest.approx(expected)


def test_choose_cut_on_a_constructed_example() -> None:
    # 20 events; only the first 4 have pred >= 0.9; top 10% = 2 events ranked by their AMS
    pred = np.array([0.99, 0.97, 0.95, 0.92] + [0.5] * 16)
    target = np.array([1, 1, 0, 1] + [0] * 16)
    weight = np.array([10.0, 10.0, 1.0, 10.0] + [1.0] * 16)
    cut = scoring.choose_cut(pred, target, weight)
    per_event = [hand_ams(10, 0), hand_ams(20, 0), hand_ams(20, 1), hand_ams(30, 1)]
    best_two = sorted(range(4), key=lambda i: -per_event[i])[:2]
    assert best_two == [3, 1]
    assert cut.cut == pytest.approx((0.92 + 0.97) / 2)
    assert cut.ams_max == pytest.approx(hand_ams(30, 1))
    assert cut.ams_at_cut == pytest.approx(hand_ams(20, 1))  # 0.99, 0.97 and 0.95 pass the cut at 0.945


def test_choose_cut_applies_the_weight_factor() -> None:
    pred = np.array([0.99, 0.95, 0.93, 0.91, 0.2])
    target = np.array([1, 0, 1, 0, 0])
    weight = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    plain, scaled = scoring.choose_cut(pred, target, weight), scoring.choose_cut(pred, target, weight, wgt_factor=5)
    assert scaled.ams_max == pytest.approx(max(scoring.ams_at_each_prediction(pred, target, weight * 5)[:4]))
    assert scaled.ams_max > plain.ams_max


def test_choose_cut_agrees_with_lumin() -> None:
    from lumin.optimisation.threshold import binary_class_cut_by_ams  # after `modules`, which mends LUMIN

    rng = np.random.default_rng(3)
    n = 3000
    target = (rng.random(n) < 0.3).astype(int)
    bkg_pred = np.where(rng.random(n) < 0.2, rng.beta(6, 1.5, n), rng.beta(1.5, 4, n))
    pred = np.where(target == 1, rng.beta(8, 1, n), bkg_pred).round(4)
    weight = np.where(target == 1, rng.uniform(0.5, 2, n), rng.uniform(0.5, 5, n))
    df = pd.DataFrame({"pred": pred, "gen_target": target, "gen_weight": weight})
    assert (pred >= 0.9).mean() > 0.1  # the regime where LUMIN's ranking is well defined
    import matplotlib

    matplotlib.use("Agg")
    lumin_cut, lumin_ams, lumin_max = binary_class_cut_by_ams(df.copy(), top_perc=10, br=10, wgt_factor=5.0)
    ours = scoring.choose_cut(pred, target, weight, wgt_factor=5.0)
    assert ours.cut == pytest.approx(lumin_cut, rel=1e-9)
    assert ours.ams_at_cut == pytest.approx(lumin_ams, rel=1e-9)
    assert ours.ams_max == pytest.approx(lumin_max, rel=1e-9)


def constructed_test_set() -> pd.DataFrame:
    """Two folds; public and private events; weights chosen so each AMS is computable by hand."""
    rows = [
        # fold, private, target, weight, pred
        (0, 0, 1, 2.0, 0.9), (0, 0, 0, 8.0, 0.95), (0, 0, 0, 10.0, 0.1),
        (1, 0, 1, 4.0, 0.8), (1, 0, 0, 6.0, 0.2), (1, 0, 1, 1.0, 0.3),
        (0, 1, 1, 3.0, 0.99), (0, 1, 0, 1.0, 0.2),
        (1, 1, 1, 1.0, 0.7), (1, 1, 0, 5.0, 0.75),
    ]
    return pd.DataFrame(rows, columns=["fold", "private", "gen_target", "gen_weight", "pred"])


def test_overall_test_scoring_has_the_studys_b_r_of_zero() -> None:
    # the study's score_test_data called calc_ams without br (default 0); only the cut on validation used b_r = 10
    df = constructed_test_set()
    got = scoring.score_test(df, cut=0.5)
    assert got["test_public_ams"] == pytest.approx(hand_ams(2 + 4, 8, br=0))
    assert got["test_private_ams"] == pytest.approx(hand_ams(3 + 1, 5, br=0))
    assert got["test_public_ams"] > hand_ams(2 + 4, 8) + 0.3  # b_r = 10 would give 1.34 instead of 1.92
    scaled = scoring.score_test(df, cut=0.5, scale={"public": 2.0, "private": 1.0})
    assert scaled["test_public_ams"] == pytest.approx(hand_ams(12, 16, br=0))
    assert scoring.score_test(df, cut=0.5, br=10)["test_public_ams"] == pytest.approx(hand_ams(6, 8))


def test_per_fold_scoring_scales_each_fold_by_event_counts_as_the_study() -> None:
    # the study (score_test_data_per_fold): fold weights *= n(set) / n(set in fold); public 6 events in folds of 3,
    # private 4 events in folds of 2, so every factor is 2 (weight sums would give 31/20, 31/11, 10/4 and 10/6)
    # (b_r = 0 as the study's test scores; a fold selecting no background has no AMS and counts as 0 here, -1 there)
    df = constructed_test_set()
    got = scoring.score_test_per_fold(df, cut=0.5)
    pub = [hand_ams(2 * 2, 8 * 2, br=0), 0.0]
    pri = [0.0, hand_ams(1 * 2, 5 * 2, br=0)]
    assert np.mean(pub) == pytest.approx(0.4811, abs=1e-4) and np.mean(pri) == pytest.approx(0.3065, abs=1e-4)
    for key, values in (("test_public_ams_mean", pub), ("test_private_ams_mean", pri)):
        mean, err = got[key]
        assert mean == pytest.approx(np.mean(values))
        assert err == pytest.approx(np.std(values, ddof=1) / np.sqrt(2))
    scaled = scoring.score_test_per_fold(df, cut=0.5, scale={"public": 3.0})
    assert scaled["test_public_ams_mean"][0] == pytest.approx(np.mean([hand_ams(12, 48, br=0), 0.0]))


def test_per_fold_scoring_by_weight_sums_on_request() -> None:
    df = constructed_test_set()
    got = scoring.score_test_per_fold(df, cut=0.5, by="weight", br=10)
    public_total, private_total = 31.0, 10.0
    pub = [hand_ams(2 * public_total / 20, 8 * public_total / 20), hand_ams(4 * public_total / 11, 0)]
    pri = [hand_ams(3 * private_total / 4, 0), hand_ams(1 * private_total / 6, 5 * private_total / 6)]
    for key, values in (("test_public_ams_mean", pub), ("test_private_ams_mean", pri)):
        mean, err = got[key]
        assert mean == pytest.approx(np.mean(values))
        assert err == pytest.approx(np.std(values, ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError):
        scoring.score_test_per_fold(df, cut=0.5, by="sum")


def test_count_scales_are_the_studys_event_count_ratios() -> None:
    # the real data: 200000 training and 50000 validation events -> the notebooks' wgt_factor=250000/50000
    assert scoring.count_scales({"train": 200000, "val": 50000}) == {"val": 5.0}
    rows = {"train": 3200, "val": 800, "test_set_b": 100, "test_set_v": 450}
    test = constructed_test_set()  # 6 public and 4 private events kept
    assert scoring.count_scales(rows, test) == pytest.approx({"val": 5.0, "public": 100 / 6, "private": 450 / 4})
    complete = {"train": 8, "val": 2, "test_set_b": 6, "test_set_v": 4}
    assert scoring.count_scales(complete, test) == {"val": 5.0, "public": 1.0, "private": 1.0}
    assert scoring.count_scales({}, test) == {}


def test_cut_with_the_count_factor_differs_from_the_weight_sum_factor() -> None:
    # 10 validation events of 200 (the study's count factor: 200/10 = 20) whose weights are 2/5 of their share of the
    # total weight (a weight-sum factor of 50). With b_r = 10 the factor decides which cut ranks best; top 10% = 1 event
    pred = np.array([0.99, 0.97, 0.95, 0.93] + [0.1] * 6)
    target = np.array([1, 0, 1, 1] + [0] * 6)
    weight = np.array([1.0, 3.0, 1.0, 1.0] + [0.25] * 6)
    factor = scoring.count_scales({"train": 190, "val": 10})["val"]
    assert factor == 20.0
    by_count = scoring.choose_cut(pred, target, weight, wgt_factor=factor, top_perc=10, br=10)
    by_sum = scoring.choose_cut(pred, target, weight, wgt_factor=50.0, top_perc=10, br=10)
    # factor 20: AMS(20, 0) = 5.0908 < AMS(60, 60) = 6.3992 -> cut 0.93; factor 50: AMS(50, 0) = 10.7243 > AMS(150, 150)
    assert by_count.cut == 0.93 and by_count.ams_at_cut == pytest.approx(hand_ams(60, 60))
    assert by_count.ams_at_cut == pytest.approx(6.3992, abs=1e-4)
    assert by_sum.cut == 0.99 and by_sum.ams_at_cut == pytest.approx(hand_ams(50, 0))
    assert by_sum.ams_at_cut == pytest.approx(10.7243, abs=1e-4)
