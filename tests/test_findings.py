"""The arithmetic that says whether a finding of the paper holds here, on hand-computed numbers: differences paired
by seed or independent, combined errors, agreement within two of them, and the one-line summary."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from modules.results import findings
from modules.results.findings import Delta, Finding
from modules.results.result import Value
from modules.results.study import Step, steps

METRIC = findings.METRIC


def rows(experiment: str, values: dict[object, float], fold_error: float | None = None) -> pd.DataFrame:
    """One experiment's rows of `results.table()`: seed (or, for an old record, machine) -> public AMS mean of folds."""
    return pd.DataFrame([{"experiment": experiment, "machine": key if isinstance(key, str) else "epyc2",
                          "seed": None if isinstance(key, str) else key, METRIC: value, f"{METRIC}_se": fold_error}
                         for key, value in values.items()])


def test_a_difference_paired_by_seed_has_the_error_of_the_per_seed_differences() -> None:
    # differences 0.1, 0.2, 0.3: mean 0.2, std 0.1, standard error 0.1 / sqrt(3) = 0.05774
    delta = findings.delta_here(rows("b", {1: 3.0, 2: 3.2, 3: 3.4}), rows("a", {1: 2.9, 2: 3.0, 3: 3.1}))
    assert delta.paired and delta.n == 3
    assert delta.mean == pytest.approx(0.2) and delta.se == pytest.approx(0.1 / math.sqrt(3))


def test_only_the_seeds_both_ran_are_paired() -> None:
    # shared seeds 2 and 3: differences 0.2 and 0.3, mean 0.25, std 0.07071, standard error 0.05
    delta = findings.delta_here(rows("b", {1: 3.0, 2: 3.2, 3: 3.4}), rows("a", {2: 3.0, 3: 3.1, 4: 9.9}))
    assert delta.paired and delta.n == 2
    assert delta.mean == pytest.approx(0.25) and delta.se == pytest.approx(0.05)


def test_with_fewer_than_two_shared_seeds_the_means_are_compared_with_independent_errors() -> None:
    # b: 3.0 and 3.2 (mean 3.1, SE 0.1); a: 2.9 and 3.1 (mean 3.0, SE 0.1); one seed shared: 0.1 ± sqrt(0.02)
    delta = findings.delta_here(rows("b", {1: 3.0, 2: 3.2}), rows("a", {1: 2.9, 3: 3.1}))
    assert not delta.paired and delta.n == 2
    assert delta.mean == pytest.approx(0.1) and delta.se == pytest.approx(math.sqrt(0.02))


def test_single_runs_keep_their_errors_over_the_test_folds() -> None:
    # 3.0 ± 0.3 against 2.5 ± 0.4 (one seed each, not the same): 0.5 ± 0.5
    delta = findings.delta_here(rows("b", {1: 3.0}, 0.3), rows("a", {2: 2.5}, 0.4))
    assert (delta.mean, delta.se, delta.n, delta.paired) == (pytest.approx(0.5), pytest.approx(0.5), 1, False)
    assert findings.delta_here(rows("b", {1: 3.0}), rows("a", {})) is None  # the predecessor not run


def test_an_old_record_without_a_seed_pairs_under_its_machine_name() -> None:
    delta = findings.delta_here(rows("b", {"mbp": 3.5, "icarus": 3.7}), rows("a", {"mbp": 3.4, "icarus": 3.4}))
    assert delta.paired and delta.mean == pytest.approx(0.2) and delta.se == pytest.approx(0.1)


def test_independent_errors_add_in_quadrature() -> None:
    delta = findings.independent(Value(3.8, 0.03, 6), Value(3.7, 0.04, 5))
    assert delta.mean == pytest.approx(0.1) and delta.se == pytest.approx(0.05) and delta.n == 5


def test_agreement_is_within_two_combined_standard_errors() -> None:
    paper = Delta(0.0, 0.4, 6)
    assert findings.agrees(Delta(1.0, 0.3, 6), paper)  # 1.0 apart, 2 × sqrt(0.3² + 0.4²) = 1.0: just agrees
    assert findings.agrees(Delta(-1.0, 0.3, 6), paper)
    assert not findings.agrees(Delta(1.01, 0.3, 6), paper)
    assert findings.agrees(Delta(1.0, math.nan, 1), paper) is None  # no error known: no verdict


def test_the_summary_counts_the_papers_findings_and_says_what_could_not_be_judged() -> None:
    step = Step("b", 2, "", "+b", "a")
    found = [Finding(step, Delta(0.1, 0.05, 6, True), Delta(0.12, 0.02, 6)),  # agrees
             Finding(step, Delta(0.5, 0.05, 6, True), Delta(0.0, 0.02, 6)),  # does not
             Finding(step, None, Delta(0.0, 0.02, 6)),  # not run here
             Finding(step, Delta(0.1, math.nan, 1), Delta(0.1, 0.02, 6)),  # no error to judge by
             Finding(step, Delta(0.1, 0.05, 6, True), None),  # beyond the paper: not one of its findings
             Finding(step, Delta(0.1, 0.2, 1), Delta(0.0, 0.02, 6))]  # a single run each: agrees, by its folds
    assert [f.verdict for f in found] == ["yes", "**no**", "not run here", "no error known", "–", "yes"]
    assert findings.summary(found) == ("2 of 5 findings reproduced (Δ here within 2 combined standard errors of "
                                       "Δ paper); 1 not run here, 1 without an error to judge by, 1 judged on single "
                                       "runs, whose errors are their spread over the test folds, not over seeds")


def test_the_study_holds_the_papers_21_findings() -> None:
    found = findings.findings(rows("0_relu_baseline", {1: 3.0}), steps())
    measured = [f for f in found if f.paper is not None]
    assert len(measured) == 21 and {f.step.number for f in measured} == set(range(1, 17)) | set(range(18, 23))
    dense = next(f for f in measured if f.step.number == 13)  # the paper: 3.8231 ± 0.0156 against 3.8150 ± 0.0200
    assert str(dense.paper) == "0.008 ± 0.025" and dense.here is None
