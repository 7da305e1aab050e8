"""The real excerpt of the CERN file (10,000 rows): it loads, and our DER formulas reproduce its DER features.

"Within rounding": the file writes every value with 3 decimals, so each PRI input is known to +-0.0005 and so is the
DER value. The allowed difference for a row is 0.0005 + 0.0005 * sum_i |dDER/dPRI_i|, the first-order propagation of
the input rounding (derivatives by central differences on the row itself), plus the output's own rounding.
DER_mass_vis and DER_mass_jet_jet used masses the PRI features do not carry (the visible tau's and the jets'), so
they are checked against the range those masses allow.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modules import cli
from modules.data import kinematics
from modules.data.load import read_challenge_csv
from modules.schema import MISSING, PRI_FEATURES

ROUNDING = 0.0005
STEP = 1e-4
"""Central-difference step for the derivatives (GeV or radians or units of eta)."""
EXACT = ("DER_mass_transverse_met_lep", "DER_pt_h", "DER_deltaeta_jet_jet", "DER_prodeta_jet_jet",
         "DER_deltar_tau_lep", "DER_pt_tot", "DER_sum_pt", "DER_pt_ratio_lep_tau", "DER_met_phi_centrality",
         "DER_lep_eta_centrality")
"""DER features that are a closed formula of the PRI features alone."""
TAU_VISIBLE_MASS_MAX = 1.777
"""The tau's visible decay products weigh between 0 and the tau mass."""
JET_MASS_OVER_PT_MAX = 0.25
"""A generous bound on a jet's mass relative to its pT (typical jets: 0.05-0.2)."""
MIN_FRACTION = 0.97


@pytest.fixture(scope="module")
def real(real_excerpt: Path) -> pd.DataFrame:
    return read_challenge_csv(real_excerpt)


@pytest.fixture(scope="module")
def ours(real: pd.DataFrame) -> pd.DataFrame:
    return kinematics.derived_features(real)


@pytest.fixture(scope="module")
def tolerance(real: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Per row and DER feature, the difference that rounding the inputs and the output to 3 decimals allows."""
    slope = pd.DataFrame(0.0, index=ours.index, columns=ours.columns)
    for column in (c for c in PRI_FEATURES if c not in ("PRI_jet_num", "PRI_met_sumet")):
        defined = real[column] != MISSING
        up, down = real.copy(), real.copy()
        up.loc[defined, column] += STEP
        down.loc[defined, column] -= STEP
        slope += ((kinematics.derived_features(up) - kinematics.derived_features(down)) / (2 * STEP)).abs()
    return ROUNDING + ROUNDING * slope


def fraction_within(real: pd.DataFrame, ours: pd.Series, allowed: pd.Series, feature: str) -> float:
    defined = real[feature] != MISSING
    return float(((real[feature] - ours).abs()[defined] <= allowed[defined] * (1 + 1e-6)).mean())


def test_excerpt_loads_with_the_documented_content(real: pd.DataFrame) -> None:
    assert len(real) == 10_000
    assert real.EventId.tolist() == list(range(100_000, 110_000))
    assert real.KaggleSet.value_counts().to_dict() == {"t": 10_000, "b": 0, "v": 0, "u": 0}
    assert real.Label.value_counts().to_dict() == {"b": 6_628, "s": 3_372}
    assert real.Weight.sum() == pytest.approx(5043.676, abs=1e-3)


@pytest.mark.parametrize("feature", EXACT)
def test_closed_form_der_features_are_reproduced_within_rounding(real: pd.DataFrame, ours: pd.DataFrame,
                                                                 tolerance: pd.DataFrame, feature: str) -> None:
    pd.testing.assert_series_equal(ours[feature] == MISSING, real[feature] == MISSING)
    assert fraction_within(real, ours[feature], tolerance[feature], feature) >= MIN_FRACTION


def _mass_vis(real: pd.DataFrame, tau_mass: float) -> pd.Series:
    tau = kinematics.four_vector(*(real[f"PRI_tau_{c}"].to_numpy() for c in ("pt", "eta", "phi")), tau_mass)
    lep = kinematics.four_vector(*(real[f"PRI_lep_{c}"].to_numpy() for c in ("pt", "eta", "phi")))
    return pd.Series(kinematics.invariant_mass(tau, lep), index=real.index)


def test_mass_vis_lies_within_the_range_of_visible_tau_masses(real: pd.DataFrame, ours: pd.DataFrame,
                                                              tolerance: pd.DataFrame) -> None:
    """The file used each event's visible tau mass; our fixed 0.8 GeV is a typical value inside the physical range."""
    allowed = tolerance.DER_mass_vis
    low, high = _mass_vis(real, 0.0) - allowed, _mass_vis(real, TAU_VISIBLE_MASS_MAX) + allowed
    assert ((real.DER_mass_vis >= low) & (real.DER_mass_vis <= high)).mean() >= 0.999
    assert fraction_within(real, ours.DER_mass_vis, allowed, "DER_mass_vis") >= 0.93
    assert fraction_within(real, ours.DER_mass_vis, allowed + 0.02, "DER_mass_vis") >= 0.99
    assert (real.DER_mass_vis - ours.DER_mass_vis).mean() == pytest.approx(0.0, abs=0.01)


def test_mass_jet_jet_lies_between_massless_and_massive_jets(real: pd.DataFrame, ours: pd.DataFrame,
                                                              tolerance: pd.DataFrame) -> None:
    """Massless jets give a lower bound; the file's unpublished jet masses add about 1.75 GeV on average."""
    two_jets = real.PRI_jet_num >= 2
    file_value, massless = real.DER_mass_jet_jet[two_jets], ours.DER_mass_jet_jet[two_jets]
    allowed = tolerance.DER_mass_jet_jet[two_jets]
    jets = [[real[f"PRI_jet_{which}_{c}"][two_jets].to_numpy() for c in ("pt", "eta", "phi")]
            for which in ("leading", "subleading")]
    massive = kinematics.invariant_mass(*(kinematics.four_vector(*jet, JET_MASS_OVER_PT_MAX * jet[0]) for jet in jets))
    assert (file_value >= massless - allowed).mean() >= 0.99
    assert (file_value <= massive + allowed).mean() >= 0.99
    assert (file_value - massless).mean() == pytest.approx(1.75, abs=0.15)
    assert fraction_within(real, massless, allowed, "DER_mass_jet_jet") < 0.5


def test_data_check_summarises_the_excerpt(real_excerpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "check", str(real_excerpt)]) == 0
    out = capsys.readouterr().out
    assert f"{real_excerpt}: valid, opendata format, 10,000 rows, 35 columns" in out
    assert "t         s      3372       8.527            27.777" in out
    assert "  DER_mass_MMC                  14.87%" in out
    assert "  PRI_jet_leading_pt            40.17%" in out
