"""The study's data import on real rows: folds, weights, seeded split, test set, caching, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.data.prepare import PreparedData, PrepareOptions, prepare
from modules.data.sources import DataSource
from modules.folds import fold_table
from modules.schema import KAGGLE_TEST_COLUMNS, KAGGLE_TRAIN_COLUMNS

N_TEST = 3000


@pytest.fixture(scope="module")
def excerpt_with_test_rows(real_excerpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real excerpt with its last 3,000 rows relabelled as public (b) and private (v) test events."""
    df = pd.read_csv(real_excerpt, dtype={"Label": str, "KaggleSet": str})
    df.loc[df.index[-N_TEST:], "KaggleSet"] = np.where(np.arange(N_TEST) % 3 == 0, "b", "v")
    path = tmp_path_factory.mktemp("data") / "excerpt-with-test.csv.gz"
    df.to_csv(path, index=False, float_format="%.6g")
    return path


def source(path: Path) -> DataSource:
    return DataSource("file", (path,), f"test file {path.name}")


@pytest.fixture(scope="module")
def prepared(excerpt_with_test_rows: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    root = tmp_path_factory.mktemp("prepared")
    return prepare(source(excerpt_with_test_rows), PrepareOptions(cat_feats=("PRI_jet_num",), seed=3333), root=root)


def fold_frame(path: Path) -> pd.DataFrame:
    from lumin.nn.data.fold_yielder import FoldYielder

    fy = FoldYielder(path)
    try:
        return fold_table(fy, inputs=True)
    finally:
        fy.close()


def test_folds_hold_the_studys_features(prepared: PreparedData) -> None:
    assert prepared.cat_feats == ["PRI_jet_num"]
    assert len(prepared.cont_feats) == 30
    for vec in ("PRI_tau", "PRI_lep", "PRI_jet_leading", "PRI_jet_subleading"):
        assert {f"{vec}_px", f"{vec}_py", f"{vec}_pz"} <= set(prepared.cont_feats)
    assert {"PRI_met_px", "PRI_met_py", "PRI_met_pt", "PRI_met_sumet"} <= set(prepared.cont_feats)
    assert not any(f.endswith(("_eta", "_phi")) for f in prepared.cont_feats)
    train = fold_frame(prepared.train)
    assert train.fold.nunique() == 10
    assert len(train) == 5600 and prepared.rows["val"] == 1400 and prepared.rows["test"] == N_TEST
    rows = prepared.rows
    assert rows["test_set_b"] == N_TEST // 3 and rows["test_set_v"] == N_TEST - N_TEST // 3
    assert rows["train_label_s"] + rows["train_label_b"] == rows["train_total"] == 10_000 - N_TEST
    assert rows["test_label_s"] + rows["test_label_b"] == N_TEST
    assert set(np.unique(train.PRI_jet_num)) == {0, 1, 2, 3}


def test_training_weights_are_renormalised_per_class(prepared: PreparedData) -> None:
    train = fold_frame(prepared.train)
    sums = train.groupby("targets").weights.sum()
    assert sums.to_numpy() == pytest.approx([1.0, 1.0], rel=1e-4)
    assert (train.gen_weight_original > 0.0005).all()  # the original KaggleWeights are kept for scoring
    val = fold_frame(prepared.val)
    assert np.allclose(val.weights, val.gen_weight_original)


def test_missing_values_become_nan_where_the_study_did(prepared: PreparedData) -> None:
    train = fold_frame(prepared.train)
    no_jets = train.PRI_jet_num == 0
    assert train.loc[no_jets, "PRI_jet_leading_px"].isna().all()
    assert train.loc[train.PRI_jet_num <= 1, ["PRI_jet_subleading_pz", "DER_mass_jet_jet"]].isna().all().all()
    assert train.loc[train.PRI_jet_num >= 2, "DER_mass_jet_jet"].notna().all()
    assert 0.05 < train.DER_mass_MMC.isna().mean() < 0.25


def test_validation_weight_scale_comes_from_the_data(prepared: PreparedData) -> None:
    assert prepared.weight_scale["val"] == pytest.approx(5.0, rel=0.05)
    assert prepared.weight_scale["public"] == pytest.approx(1.0)


def test_test_folds_keep_event_id_and_private_flag(prepared: PreparedData, excerpt_with_test_rows: Path) -> None:
    test = fold_frame(prepared.test)
    raw = pd.read_csv(excerpt_with_test_rows).tail(N_TEST)
    assert sorted(test.EventId.astype(int)) == sorted(raw.EventId)
    flags = dict(zip(raw.EventId, (raw.KaggleSet == "v").astype(int), strict=True))
    assert (test.private.astype(int).to_numpy() == test.EventId.astype(int).map(flags).to_numpy()).all()
    assert test.weights.sum() == pytest.approx(raw.KaggleWeight.sum(), rel=1e-5)


def test_split_is_reproducible_per_seed_and_differs_across_seeds(excerpt_with_test_rows: Path,
                                                                   tmp_path: Path) -> None:
    def val_ids(seed: int, root: Path) -> np.ndarray:
        prepared = prepare(source(excerpt_with_test_rows), PrepareOptions(seed=seed), root=root)
        return np.sort(fold_frame(prepared.val).DER_mass_vis.to_numpy())

    first, again = val_ids(1111, tmp_path / "a"), val_ids(1111, tmp_path / "b")
    other = val_ids(2222, tmp_path / "a")
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cache_reuses_only_identical_inputs(excerpt_with_test_rows: Path, tmp_path: Path) -> None:
    options = PrepareOptions(seed=5)
    first = prepare(source(excerpt_with_test_rows), options, root=tmp_path)
    stamp = first.train.stat().st_mtime_ns
    again = prepare(source(excerpt_with_test_rows), options, root=tmp_path)
    assert again.folder == first.folder and again.train.stat().st_mtime_ns == stamp
    assert prepare(source(excerpt_with_test_rows), PrepareOptions(seed=6), root=tmp_path).folder != first.folder
    rotated = prepare(source(excerpt_with_test_rows), PrepareOptions(seed=5, rotate=True), root=tmp_path)
    assert rotated.folder != first.folder
    other = prepare(source(excerpt_with_test_rows), PrepareOptions(seed=6), root=tmp_path)
    cached = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))  # not the builders' locks
    assert cached == sorted({first.folder.name, rotated.folder.name, other.folder.name})


def test_orientation_fixing(excerpt_with_test_rows: Path, tmp_path: Path) -> None:
    options = PrepareOptions(seed=5, rotate=True, flip_y=True, flip_z=True, max_events=2000)
    prepared = prepare(source(excerpt_with_test_rows), options, root=tmp_path)
    assert "PRI_lep_py" not in prepared.cont_feats
    import pickle

    with open(prepared.input_pipe, "rb") as stream:
        pipe = pickle.load(stream)
    train = fold_frame(prepared.train)
    raw = pd.DataFrame(pipe.inverse_transform(train[prepared.cont_feats].to_numpy()), columns=prepared.cont_feats)
    assert (raw.PRI_lep_px > 0).all() and (raw.PRI_lep_pz >= 0).all() and (raw.PRI_tau_py >= 0).all()
    assert prepared.rows["train"] == 1600


def test_multiclass_extra_features_and_matrix_layout(excerpt_with_test_rows: Path, tmp_path: Path) -> None:
    options = PrepareOptions(seed=5, multiclass=True, extra=True, matrix="row", max_events=3000)
    prepared = prepare(source(excerpt_with_test_rows), options, root=tmp_path)
    assert prepared.target == "gen_sample"
    assert {"EXT_m_tj0", "EXT_m_tj1", "EXT_m_tl", "EXT_mt_tj0", "EXT_mt_tj1"} <= set(prepared.cont_feats)
    train = fold_frame(prepared.train)
    sums = train.groupby("targets").weights.sum()
    assert list(sums.index) == [0, 1, 2, 3] and sums.to_numpy() == pytest.approx(np.ones(4), rel=1e-4)
    import h5py

    with h5py.File(prepared.train, "r") as f:
        assert "matrix_inputs" in f["fold_0"]
        assert f["fold_0/matrix_inputs"].shape[1:] == (5, 3)


def test_command_line_accepts_the_original_flag_names(excerpt_with_test_rows: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from modules.cli import main

    args = ["data", "prepare", "--dataset", str(excerpt_with_test_rows), "-d", str(tmp_path), "-f", "PRI_jet_num",
            "-s", "3333", "--rotate", "True", "--flipy", "-v", "0.25", "-n", "5", "--max-events", "2000"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "prepared " in first and "1500 train, 500 validation, 2000 test events; seed 3333" in first
    assert main(args) == 0
    assert "reused cached" in capsys.readouterr().out
    (folder,) = (p for p in (tmp_path / "prepared").iterdir() if not p.name.startswith("."))
    prepared = PreparedData.load(folder)
    assert prepared.options["rotate"] and prepared.options["flip_y"] and not prepared.options["flip_z"]
    assert prepared.options["n_folds"] == 5 and prepared.cat_feats == ["PRI_jet_num"]


def test_command_line_rejects_bad_options(excerpt_with_test_rows: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from modules.cli import main

    code = main(["data", "prepare", "--dataset", str(excerpt_with_test_rows), "-d", str(tmp_path), "-v", "1.5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "val_size must be between 0 and 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "prepared").exists() or not any((tmp_path / "prepared").iterdir())


def test_kaggle_mode_prepares_an_unlabelled_test_set(real_excerpt: Path, tmp_path: Path) -> None:
    df = pd.read_csv(real_excerpt, dtype={"Label": str, "KaggleSet": str})
    train = df.head(7000).drop(columns=["Weight"]).rename(columns={"KaggleWeight": "Weight"})
    train = train[list(KAGGLE_TRAIN_COLUMNS)]
    test = df.tail(3000)[list(KAGGLE_TEST_COLUMNS)]
    paths = (tmp_path / "training.csv", tmp_path / "test.csv")
    train.to_csv(paths[0], index=False, float_format="%.6g")
    test.to_csv(paths[1], index=False, float_format="%.6g")

    prepared = prepare(DataSource("kaggle", paths, "kaggle files"), PrepareOptions(seed=1), root=tmp_path / "p")
    assert not prepared.has_test_labels and set(prepared.weight_scale) == {"val"}
    assert prepared.rows["train"] == 5600 and prepared.rows["test"] == 3000
    import h5py

    with h5py.File(prepared.test, "r") as f:
        assert f["fold_0/targets"].shape[1:] == (0,) and "weights" not in f["fold_0"]
    folds = fold_frame(prepared.test)
    assert sorted(folds.EventId.astype(int)) == sorted(test.EventId)
    assert (folds.private == 0).all()
    assert fold_frame(prepared.train).groupby("targets").weights.sum().to_numpy() == pytest.approx([1, 1], rel=1e-4)
