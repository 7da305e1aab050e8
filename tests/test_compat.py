"""Regression tests for the LUMIN 0.9.1 mends in modules.compat: both fail when the mends are removed."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

import modules  # noqa: F401  (applies the mends, as every notebook does)


def test_lumin_model_modules_import_after_modules() -> None:
    """LUMIN's model modules import pdpbox at module level; with the stand-in they import in a fresh interpreter."""
    code = "import modules, lumin.nn.models.model, lumin.plotting.interpretation; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "imported"


def test_onecycle_model_trains_saves_and_reloads(tmp_path: Path) -> None:
    """A OneCycle-trained model's checkpoint holds numpy scalars; reloading it into an Ensemble must work."""
    from lumin.data_processing.file_proc import df2foldfile
    from lumin.nn.callbacks.cyclic_callbacks import OneCycle
    from lumin.nn.data.fold_yielder import FoldYielder
    from lumin.nn.ensemble.ensemble import Ensemble
    from lumin.nn.models.model_builder import ModelBuilder
    from lumin.nn.training.train import train_models

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x0": rng.normal(size=600), "x1": rng.normal(size=600)})
    df["target"] = (df.x0 + 0.5 * rng.normal(size=600) > 0).astype(int)
    df["weight"] = 1.0
    df2foldfile(df, n_folds=3, cont_feats=["x0", "x1"], cat_feats=[], targ_feats="target",
                savename=tmp_path / "train", targ_type="int", wgt_feat="weight")
    builder = ModelBuilder("classification", cont_feats=["x0", "x1"], n_out=1,
                           model_args={"body": {"act": "swish", "width": 8, "depth": 2}},
                           opt_args={"opt": "adam", "eps": 1e-8})
    onecycle = partial(OneCycle, lengths=(1, 1), lr_range=[1e-4, 1e-2], mom_range=(0.95, 0.85))
    results, _, _ = train_models(FoldYielder(tmp_path / "train.hdf5"), 1, bs=64, model_builder=builder, n_epochs=1,
                                 cb_partials=[onecycle], savepath=tmp_path / "weights", live_fdbk=False)

    ensemble = Ensemble.from_results(results, 1, builder, metric="loss", verbose=False)
    preds = ensemble.predict(np.array(df[["x0", "x1"]], dtype="float32"))
    assert preds.shape[0] == 600
    assert np.all((preds >= 0) & (preds <= 1))


def test_random_forest_optimisation_with_live_feedback_runs_outside_jupyter() -> None:
    """LUMIN's get_opt_rf_params(verbose=True), called by its automatic feature filters, deletes a live plot that
    fastprogress's console bar never made; without the mend this raises AttributeError: ... no attribute 'fig'."""
    from collections import OrderedDict

    from lumin.optimisation.hyper_param import get_opt_rf_params

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (x.a + 0.5 * rng.normal(size=200) > 0).astype(int)
    params, forest = get_opt_rf_params(x[:150], y[:150], x[150:], y[150:], "classification", n_estimators=5,
                                       params=OrderedDict({"min_samples_leaf": [2, 8]}), verbose=True)
    assert params["min_samples_leaf"] in (2, 8) and forest.n_estimators == 5
