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


def test_lumin_s_graph_imports_cost_nothing_where_pytorch_geometric_is_left_out() -> None:
    """LUMIN's yielders import PyTorch Geometric, which imports torch._dynamo (4.4 s a process): set up without it,
    LUMIN's data modules import, torch._dynamo stays unloaded, and the graph loader says why it cannot be used; an
    installed PyTorch Geometric is the real one."""
    code = ("import sys, importlib.util; installed = importlib.util.find_spec('torch_geometric') is not None\n"
            "import modules, lumin.nn.data.fold_yielder, lumin.nn.data.batch_yielder\n"
            "import torch_geometric.loader as loader\n"
            "print(installed, getattr(sys.modules['torch_geometric'], '__file__', None) is not None,"
            " 'torch._dynamo' in sys.modules)\n"
            "try:\n    loader.DataLoader([], batch_size=1)\nexcept ImportError as err:\n    print(err)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    if lines[0] == "True True True":  # installed by hand: used as is
        return
    assert lines[0] == "False False False"
    assert lines[1].startswith("graph data needs PyTorch Geometric, which this environment leaves out on purpose")


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


def test_the_matrix_layout_of_lumin_fold_files_writes_missing_features_as_nan(tmp_path: Path) -> None:
    """LUMIN fills absent matrix features with np.NaN, which numpy 2 (Python 3.13) removed; mend 5 restores it."""
    import h5py
    from lumin.data_processing.file_proc import df2foldfile

    df = pd.DataFrame({"a_px": [1.0, 2, 3, 4], "a_py": [5.0, 6, 7, 8], "b_px": [9.0, 10, 11, 12], "target": [0, 1] * 2})
    df2foldfile(df, n_folds=2, cont_feats=["a_px"], cat_feats=[], targ_feats="target", savename=tmp_path / "m",
                targ_type="int", shuffle=False, matrix_vecs=["a", "b"], matrix_feats_per_vec=["px", "py"],
                matrix_row_wise=True)
    with h5py.File(tmp_path / "m.hdf5", "r") as file:
        matrix = file["fold_0/matrix_inputs"][()]
    assert matrix.shape == (2, 2, 2) and np.isnan(matrix).sum() == 2  # b_py, absent, in both events of the fold
    assert set(matrix[~np.isnan(matrix)]) <= set(df[["a_px", "a_py", "b_px"]].to_numpy().ravel())


def other_numpy_name(data: bytes) -> bytes:
    """The same pickle with numpy's scalar constructor named as the other numpy major version names it."""
    new, old = b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"
    return data.replace(new, old) if new in data else data.replace(old, new)


def test_a_checkpoint_written_under_either_numpy_loads_with_the_secure_loader(tmp_path: Path) -> None:
    """Checkpoints made under numpy 1 name numpy.core.multiarray.scalar, under numpy 2 numpy._core...: mend 6 lets
    torch's weights_only loader accept both, so members trained on Python 3.11 load on 3.13 and back."""
    import io
    import zipfile

    import torch

    buffer = io.BytesIO()
    torch.save({"lr": np.float64(0.25), "step": 3}, buffer)
    original = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    pickled = next(n for n in original.namelist() if n.endswith("data.pkl"))
    assert other_numpy_name(original.read(pickled)) != original.read(pickled)
    rewritten = tmp_path / "other_numpy.pt"
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_STORED) as out:
        for name in original.namelist():
            data = original.read(name)
            out.writestr(name, other_numpy_name(data) if name == pickled else data)
    loaded = torch.load(rewritten, weights_only=True)
    assert loaded == {"lr": 0.25, "step": 3} and isinstance(loaded["lr"], np.float64)


def test_test_time_rotation_equals_lumin_s_without_a_dtype_warning() -> None:
    """LUMIN's _rotate writes float64 into float32 columns, which pandas >= 2.1 warns about (pandas 3 raises); mend 7
    replaces the columns instead and must give what LUMIN's own code gives (pandas 2.0 upcasts the same way)."""
    import warnings

    from lumin.nn.data.fold_yielder import HEPAugFoldYielder

    from modules import compat

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({c: rng.normal(size=50).astype("float32") for c in ("l_px", "l_py", "j_px", "j_py")})
    frame["aug_angle"] = rng.uniform(0, 2 * np.pi, size=50)
    mended, lumin_own = frame.copy(), frame.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HEPAugFoldYielder._rotate(None, mended, ["l", "j"])
    assert HEPAugFoldYielder._rotate is compat._rotate_into_new_columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compat.LUMIN_ROTATE(None, lumin_own, ["l", "j"])
    pd.testing.assert_frame_equal(mended, lumin_own)


def test_lumin_s_standard_library_leftovers_import_without_warnings() -> None:
    """fastcore imports imghdr (gone from 3.13: standard-imghdr, which warns; deprecated with a warning on 3.11-3.12)
    and LUMIN imports distutils (gone from 3.12) and pkg_resources: both from setuptools < 81. With warnings as
    errors, every one imports after `import modules` (mend 8 and requirements.txt)."""
    code = ("import modules, imghdr, distutils.version, pkg_resources, setuptools; "
            "print(int(setuptools.__version__.split('.')[0]))")
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) < 81
