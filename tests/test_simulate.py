"""The simulated stand-in: official format and semantics, DER features consistent with PRI, weights, determinism."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.cli import main as cli_main
from modules.data.identity import file_identity, is_simulated
from modules.data.kinematics import derived_features
from modules.data.load import read_challenge_csv
from modules.data.simulation import simulate as simulate_module
from modules.data.simulation import writer as sim_csv
from modules.data.simulation.config import SELECTION
from modules.data.simulation.simulate import DECIMALS, simulate, split_counts, write_simulation
from modules.data.simulation.writer import write_csv
from modules.errors import UserError
from modules.schema import (
    DER_FEATURES,
    FEATURES,
    KAGGLE_SET_SIZES,
    KAGGLE_WEIGHT_TOTALS,
    MISSING,
    OPENDATA_COLUMNS,
    UNDEFINED_WITHOUT_LEADING_JET,
    UNDEFINED_WITHOUT_TWO_JETS,
)

EVENTS = 20_000


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_simulation(tmp_path_factory.mktemp("sim") / "sim.csv.gz", EVENTS, seed=7)


@pytest.fixture(scope="module")
def events(written: Path) -> pd.DataFrame:
    return read_challenge_csv(written)


def test_file_passes_the_data_validation_in_the_official_layout(written: Path, events: pd.DataFrame) -> None:
    assert tuple(events.columns) == OPENDATA_COLUMNS
    assert len(events) == EVENTS
    assert events["EventId"].tolist() == list(range(100_000, 100_000 + EVENTS))
    with gzip.open(written, "rt") as stream:
        header, first = stream.readline(), stream.readline()
    assert header.rstrip("\n").split(",") == list(OPENDATA_COLUMNS)
    assert all(len(v.split(".")[1]) <= 3 for v in first.split(",")[1:31] if "." in v)


def test_sidecar_says_simulated(written: Path) -> None:
    meta = json.loads(Path(str(written) + ".meta.json").read_text())
    assert {k: meta[k] for k in ("kind", "generator", "seed", "events")} == {
        "kind": "simulated", "generator": "higgsml-lumin toy simulation", "seed": 7, "events": EVENTS}
    assert isinstance(meta["version"], int)
    assert is_simulated(file_identity(written))


def test_undefined_values_follow_the_files_rules(events: pd.DataFrame) -> None:
    jets = events["PRI_jet_num"]
    assert set(jets.unique()) == {0, 1, 2, 3}
    assert ((events["PRI_jet_leading_pt"] == MISSING) == (jets == 0)).all()
    assert ((events["DER_mass_jet_jet"] == MISSING) == (jets <= 1)).all()
    assert (events.loc[jets == 0, "PRI_jet_all_pt"] == 0).all()
    may_be_undefined = ("DER_mass_MMC", *UNDEFINED_WITHOUT_LEADING_JET, *UNDEFINED_WITHOUT_TWO_JETS)
    other = [c for c in FEATURES if c not in may_be_undefined]
    assert not (events[other] == MISSING).any().any()


def test_selection_cuts_hold(events: pd.DataFrame) -> None:
    assert events["PRI_tau_pt"].min() >= 20 and events["PRI_lep_pt"].min() >= 26
    assert events["PRI_tau_eta"].abs().max() <= 2.5 and events["PRI_lep_eta"].abs().max() <= 2.5
    jets = events.loc[events["PRI_jet_num"] >= 1]
    assert jets["PRI_jet_leading_pt"].min() >= 30 and jets["PRI_jet_leading_eta"].abs().max() <= 4.5


def _delta_r(events: pd.DataFrame, a: str, b: str) -> np.ndarray:
    d_phi = (events[f"{a}_phi"] - events[f"{b}_phi"] + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(events[f"{a}_eta"] - events[f"{b}_eta"], d_phi).to_numpy()


ROUNDING = 0.003
"""Slack for distances computed from angles written with 3 decimals."""


def test_jets_are_clustered_and_the_lepton_and_tau_isolated(events: pd.DataFrame) -> None:
    two = events[events["PRI_jet_num"] >= 2]
    assert _delta_r(two, "PRI_jet_leading", "PRI_jet_subleading").min() >= SELECTION.jet_radius - ROUNDING
    for slot, frame in (("leading", events[events["PRI_jet_num"] >= 1]), ("subleading", two)):
        assert _delta_r(frame, f"PRI_jet_{slot}", "PRI_lep").min() >= SELECTION.lepton_isolation - ROUNDING
        assert _delta_r(frame, f"PRI_jet_{slot}", "PRI_tau").min() >= SELECTION.tau_isolation - ROUNDING


def test_sum_et_counts_calorimeter_energy(events: pd.DataFrame) -> None:
    """A muon leaves little in the calorimeters: sum ET is below the visible objects' pT in 14.7% of the real
    excerpt's events, but never below the tau's and jets' alone."""
    tau_and_jets = events["PRI_tau_pt"] + events["PRI_jet_all_pt"]
    assert 0.10 < (events["PRI_met_sumet"] < tau_and_jets + events["PRI_lep_pt"]).mean() < 0.20
    assert (events["PRI_met_sumet"] >= tau_and_jets - ROUNDING).all()


def test_derived_features_recompute_from_the_primary_ones(events: pd.DataFrame) -> None:
    recomputed = derived_features(events)
    for name in recomputed.columns:
        assert np.allclose(recomputed[name], events[name], atol=2e-3, rtol=1e-4), name


def test_mass_estimator_fails_more_often_for_background(events: pd.DataFrame) -> None:
    undefined = (events["DER_mass_MMC"] == MISSING).groupby(events["Label"]).mean()
    assert undefined["s"] < 0.08
    assert 0.10 < undefined["b"] < 0.35


def test_kaggle_sets_and_weights_have_the_real_semantics(events: pd.DataFrame) -> None:
    sizes = events["KaggleSet"].value_counts()
    expected = split_counts(EVENTS, list(KAGGLE_SET_SIZES.values()))
    assert [sizes[k] for k in KAGGLE_SET_SIZES] == expected.tolist()
    totals = events.groupby(["KaggleSet", "Label"])["KaggleWeight"].sum()
    for (_, label), total in totals.items():
        assert total == pytest.approx(KAGGLE_WEIGHT_TOTALS[label], rel=0.01)
    whole_file = events.groupby("Label")["Weight"].sum()
    assert whole_file["s"] == pytest.approx(KAGGLE_WEIGHT_TOTALS["s"], rel=0.01)
    assert whole_file["b"] == pytest.approx(KAGGLE_WEIGHT_TOTALS["b"], rel=0.01)
    assert 0.30 < (events["Label"] == "s").mean() < 0.38


def test_background_processes_show_as_weight_clusters(events: pd.DataFrame) -> None:
    """As in the real file: constant-weight samples (Z -> tau tau slices, ttbar) beside W+jets' spread of weights."""
    weights = events.loc[events["Label"] == "b", "Weight"].round(9)
    counts = weights.value_counts()
    spikes = counts[counts >= 0.01 * len(weights)]
    assert len(spikes) >= 3
    assert spikes.index.max() / spikes.index.min() > 3
    assert 0.4 < (weights.map(counts) == 1).mean() < 0.8


def test_events_are_symmetric_in_phi_and_eta(events: pd.DataFrame) -> None:
    for name in ("PRI_tau_phi", "PRI_lep_phi", "PRI_met_phi"):
        assert abs(events[name].mean()) < 0.05
        assert abs((events[name] > 0).mean() - 0.5) < 0.02
    for name in ("PRI_tau_eta", "PRI_lep_eta"):
        assert abs((events[name] > 0).mean() - 0.5) < 0.02


def test_same_seed_same_bytes_other_seed_other_events(tmp_path: Path) -> None:
    a = write_simulation(tmp_path / "a.csv.gz", 2_000, seed=3)
    b = write_simulation(tmp_path / "b.csv.gz", 2_000, seed=3)
    c = write_simulation(tmp_path / "c.csv.gz", 2_000, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert not simulate(500, seed=3)[list(DER_FEATURES)].equals(simulate(500, seed=4)[list(DER_FEATURES)])


def test_parallel_writing_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_csv, "CHUNK_ROWS", 256)
    frame = simulate(1_000, seed=2)
    for compressed in (False, True):
        write_csv(tmp_path / "one", frame, DECIMALS, compressed, workers=1)
        write_csv(tmp_path / "two", frame, DECIMALS, compressed, workers=2)
        assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()
    with gzip.open(tmp_path / "two", "rt") as stream:
        assert len(stream.read().splitlines()) == 1_001


def test_parallel_generation_gives_the_same_events(monkeypatch: pytest.MonkeyPatch) -> None:
    serial = simulate(3_000, seed=5)
    monkeypatch.setattr(simulate_module, "PARALLEL_FROM", 1_000)
    monkeypatch.setattr(simulate_module, "WORKERS", 2)
    pd.testing.assert_frame_equal(simulate(3_000, seed=5), serial, check_exact=True)


def test_plain_csv_when_the_name_has_no_gz(tmp_path: Path) -> None:
    path = write_simulation(tmp_path / "small.csv", 300, seed=1)
    assert path.read_bytes()[:8] == b"EventId,"
    assert len(read_challenge_csv(path)) == 300


def test_command_writes_file_and_sidecar_and_says_simulated(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli.csv.gz"
    assert cli_main(["data", "simulate", "--events", "400", "--seed", "5", "--out", str(out)]) == 0
    assert out.exists() and Path(str(out) + ".meta.json").exists()
    assert "SIMULATED" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.csv.gz", "cli.csv.gz.meta.json"]


def test_bad_requests_fail_cleanly_and_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="positive"):
        write_simulation(tmp_path / "x.csv", 0)
    with pytest.raises(UserError, match="does not exist"):
        write_simulation(tmp_path / "missing" / "x.csv", 10)
    assert list(tmp_path.iterdir()) == []
    assert cli_main(["data", "simulate", "--events", "-3", "--out", str(tmp_path / "y.csv")]) == 2
