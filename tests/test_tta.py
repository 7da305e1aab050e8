"""The premise of the vectorised test-time augmentation: the study's 8 copies of an event (rotations by 0 and pi in
phi, with and without flipping y and z) are exactly the 8 sign patterns of its px, py and pz groups."""

from __future__ import annotations

import itertools

import numpy as np

from modules import tta

FEATS = ["DER_mass_MMC", "PRI_tau_px", "PRI_tau_py", "PRI_tau_pz", "PRI_met_px", "PRI_met_py", "PRI_met_sumet",
         "PRI_jet_leading_px", "PRI_jet_leading_py", "PRI_jet_leading_pz", "PRI_jet_num"]


def test_the_eight_copies_are_the_sign_patterns_of_three_groups() -> None:
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(50, len(FEATS))).astype(np.float32)
    inputs[:, -1] = rng.integers(0, 4, 50)
    inputs[::7, 7:10] = np.nan  # a missing jet
    groups = tta.signs(FEATS, n_cont=len(FEATS) - 1, cardinalities=(4,))
    assert groups is not None
    assert [FEATS[i] for i in groups.px] == ["PRI_tau_px", "PRI_met_px", "PRI_jet_leading_px"]
    assert [FEATS[i] for i in groups.py] == ["PRI_tau_py", "PRI_met_py", "PRI_jet_leading_py"]
    assert [FEATS[i] for i in groups.pz] == ["PRI_tau_pz", "PRI_jet_leading_pz"]
    assert [FEATS[i] for i in groups.kept] == ["DER_mass_MMC", "PRI_met_sumet"]
    made = tta.copies(inputs, FEATS)
    assert made.shape == (8, 50, len(FEATS))
    patterns = []
    for s_px, s_py, s_pz in itertools.product((1, -1), repeat=3):
        signed = np.nan_to_num(inputs).copy()
        signed[:, groups.px] *= s_px
        signed[:, groups.py] *= s_py
        signed[:, groups.pz] *= s_pz
        match = [i for i, copy in enumerate(made) if np.allclose(copy, signed, rtol=1e-6, atol=1e-6)]
        assert len(match) == 1, f"pattern {(s_px, s_py, s_pz)} is one of the copies"
        patterns.append(match[0])
    assert sorted(patterns) == list(range(8))


def test_other_rotations_are_not_sign_flips() -> None:
    assert tta.signs(FEATS, n_cont=len(FEATS) - 1, cardinalities=(4,), rotations=4) is None
    assert tta.signs(["DER_mass_MMC", "PRI_jet_num"], n_cont=1, cardinalities=(4,)) is None


def test_shared_sign_inputs_hold_each_group_and_one_hot_codes() -> None:
    groups = tta.signs(FEATS, n_cont=len(FEATS) - 1, cardinalities=(4,))
    block = np.arange(2 * len(FEATS), dtype=np.float32).reshape(2, len(FEATS))
    block[:, -1] = [2, 0]
    block[0, 1] = np.nan
    first, second = groups.inputs(block)
    assert first.shape == (2 + 3 + 4, 2) and second.shape == (3 + 2, 2)  # one column per event
    np.testing.assert_array_equal(first[:, 0].numpy(), [0, 6, 0, 4, 7, 0, 0, 1, 0])  # kept, px (NaN -> 0), one-hot 2
    np.testing.assert_array_equal(first[-4:, 1].numpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(second[:, 0].numpy(), [2, 5, 8, 3, 9])
