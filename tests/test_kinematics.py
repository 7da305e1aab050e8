"""Kinematics: Cartesian conversion, orientation fixing and augmentation keep every physical invariant of an event.

Run on random valid rows (always) and on the real excerpt (where present). Invariants are computed from Cartesian
components: pair invariant masses, transverse masses with MET, and the objects' transverse and total momenta.
Importing `modules` (done by the imports below) applies the LUMIN mends before the tests import LUMIN.
"""

from __future__ import annotations

from itertools import combinations, product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from challenge_rows import synthetic_rows

from modules.data import kinematics
from modules.data.load import read_challenge_csv
from modules.schema import MISSING

OBJECTS = {"PRI_tau": kinematics.TAU_MASS, "PRI_lep": 0.0, "PRI_jet_leading": 0.0, "PRI_jet_subleading": 0.0}
"""Objects with full three-momenta and the mass each is given."""
TIGHT = {"rtol": 1e-9, "atol": 1e-4}
"""Double-precision agreement; 0.1 MeV absolute (the file's precision is 1 MeV) where the square root of a near-zero
transverse mass squared amplifies rounding."""


@pytest.fixture(params=["synthetic", "real"], scope="module")
def raw(request: pytest.FixtureRequest) -> pd.DataFrame:
    """Rows as the file holds them (with -999): 2,000 random valid ones, or the 10,000 real ones."""
    if request.param == "synthetic":
        return synthetic_rows(2_000, seed=11)
    return read_challenge_csv(request.getfixturevalue("real_excerpt"))


def as_nan(df: pd.DataFrame) -> pd.DataFrame:
    return df.replace(MISSING, np.nan)


def four_momentum(cart: pd.DataFrame, vec: str, mass: float) -> tuple[np.ndarray, ...]:
    px, py, pz = (cart[f"{vec}_{c}"].to_numpy(float) for c in ("px", "py", "pz"))
    return np.sqrt(mass**2 + px**2 + py**2 + pz**2), px, py, pz


def invariants(cart: pd.DataFrame) -> pd.DataFrame:
    """Every rotation- and reflection-invariant quantity of an event in Cartesian columns (NaN for absent jets)."""
    p4 = {vec: four_momentum(cart, vec, mass) for vec, mass in OBJECTS.items()}
    met_x, met_y = cart["PRI_met_px"].to_numpy(float), cart["PRI_met_py"].to_numpy(float)
    out = {f"m({a},{b})": kinematics.invariant_mass(p4[a], p4[b]) for a, b in combinations(OBJECTS, 2)}
    for vec, (_, px, py, pz) in p4.items():
        pt = np.hypot(px, py)
        out[f"pt({vec})"], out[f"|p|({vec})"] = pt, np.sqrt(pt**2 + pz**2)
        out[f"mT({vec},met)"] = np.sqrt(np.clip(2 * (pt * np.hypot(met_x, met_y) - px * met_x - py * met_y), 0, None))
    out["met"] = np.hypot(met_x, met_y)
    return pd.DataFrame(out)


def assert_same_invariants(before: pd.DataFrame, after: pd.DataFrame, **tolerance: float) -> None:
    expected, found = invariants(before), invariants(after)
    for column in expected:
        np.testing.assert_allclose(found[column], expected[column], equal_nan=True, err_msg=column,
                                   **(tolerance or TIGHT))


def random_angles(n: int, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, n)


def test_cartesian_conversion_keeps_pt_met_and_the_file_masses(raw: pd.DataFrame) -> None:
    polar = as_nan(raw)
    cart = kinematics.to_cartesian(polar)
    for vec in OBJECTS:
        np.testing.assert_allclose(np.hypot(cart[f"{vec}_px"], cart[f"{vec}_py"]), polar[f"{vec}_pt"], **TIGHT)
        np.testing.assert_allclose(cart[f"{vec}_pz"], polar[f"{vec}_pt"] * np.sinh(polar[f"{vec}_eta"]), **TIGHT)
        assert not {f"{vec}_pt", f"{vec}_eta", f"{vec}_phi"} & set(cart.columns)
    np.testing.assert_allclose(np.hypot(cart.PRI_met_px, cart.PRI_met_py), polar.PRI_met, **TIGHT)
    np.testing.assert_array_equal(cart.PRI_met_pt, polar.PRI_met)
    assert cart.PRI_jet_subleading_px.isna().sum() == (raw.PRI_jet_num < 2).sum()
    found = invariants(cart)
    derived = kinematics.derived_features(raw)
    np.testing.assert_allclose(found["m(PRI_tau,PRI_lep)"], derived.DER_mass_vis, **TIGHT)
    np.testing.assert_allclose(found["mT(PRI_lep,met)"], derived.DER_mass_transverse_met_lep, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("frame", ["polar", "cartesian"])
def test_random_phi_rotations_keep_every_invariant(raw: pd.DataFrame, frame: str) -> None:
    cart = kinematics.to_cartesian(as_nan(raw))
    angles = random_angles(len(raw))
    if frame == "polar":
        rotated = kinematics.to_cartesian(kinematics.rotate_phi(as_nan(raw), angles))
    else:
        rotated = kinematics.rotate_phi(cart, angles)
    assert np.abs(rotated.PRI_tau_px - cart.PRI_tau_px).median() > 1
    assert_same_invariants(cart, rotated)
    np.testing.assert_allclose(rotated.PRI_tau_pz, cart.PRI_tau_pz, **TIGHT)


@pytest.mark.parametrize(("axis", "frame"), list(product("yz", ["polar", "cartesian"])))
def test_reflections_keep_every_invariant(raw: pd.DataFrame, axis: str, frame: str) -> None:
    cart = kinematics.to_cartesian(as_nan(raw))
    mask = np.random.default_rng(7).random(len(raw)) < 0.5
    if frame == "polar":
        mirrored = kinematics.to_cartesian(kinematics.reflect(as_nan(raw), axis, mask))
    else:
        mirrored = kinematics.reflect(cart, axis, mask)
    flipped, kept = f"PRI_lep_p{axis}", "PRI_lep_px"
    np.testing.assert_allclose(mirrored[flipped], np.where(mask, -cart[flipped], cart[flipped]), **TIGHT)
    np.testing.assert_allclose(mirrored[kept], cart[kept], **TIGHT)
    assert_same_invariants(cart, mirrored)


@pytest.mark.parametrize(("rotate", "flip_y", "flip_z"), list(product([True, False], repeat=3)))
def test_orientation_fixing_keeps_invariants_and_fixes_the_frame(raw: pd.DataFrame, rotate: bool, flip_y: bool,
                                                                 flip_z: bool) -> None:
    polar = as_nan(raw)
    fixed = kinematics.fix_orientation(polar, rotate, flip_y, flip_z)
    if rotate:
        assert (fixed.PRI_lep_phi == 0).all()
        assert (fixed.PRI_tau_phi >= 0).all() == flip_y
    else:
        pd.testing.assert_series_equal(fixed.PRI_tau_phi, polar.PRI_tau_phi)
    if flip_z:
        assert (fixed.PRI_lep_eta >= 0).all()
    else:
        pd.testing.assert_series_equal(fixed.PRI_lep_eta, polar.PRI_lep_eta)
    assert_same_invariants(kinematics.to_cartesian(polar), kinematics.to_cartesian(fixed))


def test_orientation_fixing_matches_lumin_proc_event(raw: pd.DataFrame) -> None:
    """The study fixed orientation with LUMIN's proc_event (lepton to phi = 0, tau to phi >= 0, lepton to eta >= 0)."""
    from lumin.data_processing.hep_proc import proc_event

    polar = as_nan(raw).rename(columns={"PRI_met": "PRI_met_pt"})
    theirs = polar.copy()
    proc_event(theirs, fix_phi=True, fix_y=True, fix_z=True, ref_vec_0="PRI_lep", ref_vec_1="PRI_tau")
    ours = kinematics.fix_orientation(as_nan(raw), rotate=True, flip_y=True, flip_z=True)
    ours = ours.rename(columns={"PRI_met": "PRI_met_pt"}).drop(columns="PRI_lep_phi")
    assert set(theirs.columns) == set(ours.columns)
    pd.testing.assert_frame_equal(ours[theirs.columns], theirs, check_exact=False, rtol=1e-9, atol=1e-9)


def test_transforms_keep_the_derived_features_and_the_missing_markers(raw: pd.DataFrame) -> None:
    """On rows with -999 markers: every closed-form DER feature is unchanged, and absent jets stay -999."""
    expected = kinematics.derived_features(raw)
    angles, mask = random_angles(len(raw), seed=9), np.arange(len(raw)) % 2 == 0
    transformed = kinematics.reflect(kinematics.reflect(kinematics.rotate_phi(raw, angles), "y", mask), "z", ~mask)
    for column in ("PRI_jet_leading_phi", "PRI_jet_subleading_eta"):
        pd.testing.assert_series_equal(transformed[column] == MISSING, raw[column] == MISSING)
    pd.testing.assert_frame_equal(kinematics.derived_features(transformed), expected, check_exact=False,
                                  rtol=1e-9, atol=1e-9)


def test_lumin_train_time_augmentation_keeps_every_invariant(raw: pd.DataFrame, tmp_path: Path) -> None:
    """LUMIN's HEPAugFoldYielder rotates and reflects unscaled Cartesian fold-file inputs: invariants must survive."""
    from lumin.data_processing.file_proc import df2foldfile
    from lumin.nn.data.fold_yielder import HEPAugFoldYielder

    cart = kinematics.to_cartesian(as_nan(raw))
    features = [c for c in cart.columns if c.endswith(("_px", "_py", "_pz"))] + ["PRI_met_pt"]
    cart["gen_target"] = (raw.Label == "s").astype(int).to_numpy()
    df2foldfile(cart, n_folds=2, cont_feats=features, cat_feats=[], targ_feats="gen_target",
                savename=tmp_path / "train", targ_type="int", shuffle=False)
    yielder = HEPAugFoldYielder(tmp_path / "train.hdf5", rot_mult=2, reflect_y=True, reflect_z=True)
    np.random.seed(13)
    plain = pd.DataFrame(yielder.get_data(n_folds=1, fold_idx=0)["inputs"], columns=yielder.cont_feats)
    augmented = pd.DataFrame(yielder.get_fold(0)["inputs"], columns=yielder.cont_feats)
    assert len(plain) == len(raw) // 2
    assert np.abs(augmented.PRI_tau_px - plain.PRI_tau_px).median() > 1
    assert (np.sign(augmented.PRI_tau_pz) != np.sign(plain.PRI_tau_pz)).mean() == pytest.approx(0.5, abs=0.1)
    float32_tolerance = {"rtol": 1e-4, "atol": 2e-3}
    assert_same_invariants(plain.astype(float), augmented.astype(float), **float32_tolerance)
