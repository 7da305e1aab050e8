"""The official column layout of the ATLAS Higgs ML Challenge 2014 file and the constants that describe it.

One place for every name the data code, the simulation and the tests share, so a typo cannot drift between them.
"""

from __future__ import annotations

DER_FEATURES: tuple[str, ...] = (
    "DER_mass_MMC",
    "DER_mass_transverse_met_lep",
    "DER_mass_vis",
    "DER_pt_h",
    "DER_deltaeta_jet_jet",
    "DER_mass_jet_jet",
    "DER_prodeta_jet_jet",
    "DER_deltar_tau_lep",
    "DER_pt_tot",
    "DER_sum_pt",
    "DER_pt_ratio_lep_tau",
    "DER_met_phi_centrality",
    "DER_lep_eta_centrality",
)
PRI_FEATURES: tuple[str, ...] = (
    "PRI_tau_pt",
    "PRI_tau_eta",
    "PRI_tau_phi",
    "PRI_lep_pt",
    "PRI_lep_eta",
    "PRI_lep_phi",
    "PRI_met",
    "PRI_met_phi",
    "PRI_met_sumet",
    "PRI_jet_num",
    "PRI_jet_leading_pt",
    "PRI_jet_leading_eta",
    "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt",
    "PRI_jet_subleading_eta",
    "PRI_jet_subleading_phi",
    "PRI_jet_all_pt",
)
FEATURES: tuple[str, ...] = DER_FEATURES + PRI_FEATURES
OPENDATA_COLUMNS: tuple[str, ...] = ("EventId", *FEATURES, "Weight", "Label", "KaggleSet", "KaggleWeight")
KAGGLE_TRAIN_COLUMNS: tuple[str, ...] = ("EventId", *FEATURES, "Weight", "Label")
KAGGLE_TEST_COLUMNS: tuple[str, ...] = ("EventId", *FEATURES)

MISSING = -999.0
"""The file's marker for a value that is undefined for the event."""

LEADING_JET = ("PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi")
SUBLEADING_JET = ("PRI_jet_subleading_pt", "PRI_jet_subleading_eta", "PRI_jet_subleading_phi")
DIJET_DER = ("DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet", "DER_lep_eta_centrality")
UNDEFINED_WITHOUT_LEADING_JET: tuple[str, ...] = LEADING_JET
UNDEFINED_WITHOUT_TWO_JETS: tuple[str, ...] = SUBLEADING_JET + DIJET_DER
"""Columns that are -999 exactly when PRI_jet_num is 0 (leading) or at most 1 (sub-leading and di-jet)."""

LABELS = ("s", "b")
KAGGLE_SETS = ("t", "b", "v", "u")
KAGGLE_SET_SIZES = {"t": 250_000, "b": 100_000, "v": 450_000, "u": 18_238}
FULL_FILE_ROWS = sum(KAGGLE_SET_SIZES.values())
KAGGLE_WEIGHT_TOTALS = {"s": 691.989, "b": 410_999.847}
"""Per KaggleSet and label, the KaggleWeights of the full file sum to these totals (the 2012 luminosity)."""

OPENDATA_FILENAME = "atlas-higgs-challenge-2014-v2.csv.gz"
OPENDATA_URL = f"https://opendata.cern.ch/record/328/files/{OPENDATA_FILENAME}"
OPENDATA_SHA1 = "639b1dbd97a709a739122a9a5dcd99b49d55d86c"
OPENDATA_SIZE = 65_630_848
KAGGLE_FILENAMES = ("training.csv", "test.csv")
