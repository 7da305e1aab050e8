"""The mends LUMIN 0.9.1 needs on today's stack, applied once when `modules` is imported and nowhere else.

1. LUMIN imports `pdpbox.pdp` at module level for partial-dependence plots the study never draws; pdpbox is not a
   declared dependency and would drag hundreds of MB. Where it is absent, a stand-in module is registered whose
   classes raise a clear error if someone does ask for such a plot.
2. torch >= 2.6 loads checkpoints with `weights_only=True`; LUMIN's `Model.load` saves optimiser state holding numpy
   scalars (written by OneCycle), so reloading a trained ensemble fails. The numpy types involved are registered as
   safe globals, which keeps the secure loader on for everything else. Importing torch costs seconds, so the
   registration runs the moment `torch.serialization` is first imported rather than forcing torch in here.
3. Outside Jupyter, LUMIN's `get_opt_rf_params(verbose=True)` (used by `auto_filter_on_mutual_dependence` and
   `auto_filter_on_linear_correlation` when they optimise their forests) deletes the live plot its progress bar
   should have drawn; fastprogress's console bar draws none, so the call fails with `'ConsoleMasterBar' object has no
   attribute 'fig'`. The console bar's graph update now records that there is no figure, so the feature-selection
   functions run headless as they do in a notebook.
4. LUMIN shuffles the order of the training folds with Python's global `random`, which other threads of the same
   process also draw from (a Dask worker's event loop does, for its heartbeats): members trained on a cluster then
   came out slightly different from the same members trained alone. LUMIN's training now shuffles with its own
   generator, `FOLD_ORDER`, which `training.seed_everything` seeds with the others.
5. numpy 2 (Python 3.13) removed `np.NaN`, which LUMIN's `df2foldfile` uses for the matrix layout; the alias is put
   back as `np.nan`.
6. Checkpoints name numpy's scalar constructor by the module numpy had when they were written:
   `numpy.core.multiarray.scalar` under numpy 1, `numpy._core.multiarray.scalar` under numpy 2. Mend 2 registers it
   under both names, so members trained on one Python load on another.
7. LUMIN's test-time rotation (`HEPAugFoldYielder._rotate`) writes float64 results into float32 columns with
   `df.loc[:, col] = ...`: pandas >= 2.1 upcasts the column with a FutureWarning per call (pandas 3 raises). The
   rotation now replaces the columns, which gives the same float64 values and dtypes as pandas 2.0's upcast, silently.
8. fastcore 1.3.5 (LUMIN's) imports `imghdr`, deprecated with a warning on 3.11 and 3.12 and removed from 3.13, where
   requirements.txt installs standard-imghdr, which warns that it is not the standard one. It is imported here once
   with that one note silenced.
9. LUMIN's fold and batch yielders import PyTorch Geometric at module level for graph data, which the study never
   uses; importing it costs 4.4 s per process here (it loads `torch._dynamo`), paid by every notebook kernel, search
   and Dask worker. requirements.txt leaves it out, and where it is absent a stand-in like pdpbox's is registered
   whose loader raises a clear error if graph data is ever asked for. An installed PyTorch Geometric is used as is.
`distutils`, gone from Python 3.12, which LUMIN imports for `LooseVersion`, comes from setuptools < 81 (requirements).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import random
import sys
import types
import warnings
from collections.abc import Callable

import numpy as np
import numpy._core.multiarray  # noqa: F401  (numpy 1.26 has it for pickles too, without a warning; np.core warns on numpy 2)


def _unavailable(what: str, install: str) -> type:
    """A class that imports fine and, when used, says that `what` was left out on purpose and how to add it."""

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise ImportError(f"{what}, which this environment leaves out on purpose (see requirements.txt); `{install}`")

    return type("Unavailable", (), {"__init__": refuse, "__doc__": f"Stand-in: {what}."})


def _register_stand_in(package: str, classes: dict[str, dict[str, type]]) -> None:
    """Register `package` with its submodules and their classes (submodule -> name -> class) where it is not
    installed, so that LUMIN's module-level imports of it work."""
    if package in sys.modules or importlib.util.find_spec(package) is not None:
        return
    root = types.ModuleType(package)
    root.__path__ = []
    sys.modules[package] = root
    for submodule, members in classes.items():
        module = types.ModuleType(f"{package}.{submodule}")
        for name, cls in members.items():
            setattr(module, name, type(name, (cls,), {}))
        setattr(root, submodule, module)
        sys.modules[module.__name__] = module


def _register_pdpbox_stand_in() -> None:
    refuse = _unavailable("partial-dependence plots need pdpbox",
                          "pip install pqdm==0.2.0 && pip install --no-deps pdpbox==0.3.0")
    _register_stand_in("pdpbox", {"pdp": {"PDPIsolate": refuse, "PDPInteract": refuse}})


def _register_torch_geometric_stand_in() -> None:
    refuse = _unavailable("graph data needs PyTorch Geometric", "pip install torch-geometric==2.8.1")
    _register_stand_in("torch_geometric", {"data": {"Dataset": object}, "loader": {"DataLoader": refuse}})


SCALAR_NAMES = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
"""The names numpy 1 and numpy 2 pickle their scalar constructor under (mend 6)."""


def _allow_numpy_in_checkpoints(serialization: types.ModuleType) -> None:
    scalar = np._core.multiarray.scalar
    serialization.add_safe_globals(
        [*((scalar, name) for name in SCALAR_NAMES), np.dtype, type(np.dtype("float64")),
         type(np.dtype("float32")), type(np.dtype("int64"))]
    )


def _import_imghdr_quietly() -> None:
    if "imghdr" in sys.modules or importlib.util.find_spec("imghdr") is None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr", category=DeprecationWarning)
        importlib.import_module("imghdr")


def _restore_nan_alias() -> None:
    if "NaN" not in vars(np):
        np.NaN = np.nan


def _rotate_into_new_columns(self: object, df: object, vecs: list[str]) -> None:
    """LUMIN's `_rotate` with whole columns replaced instead of written into: the same values, no dtype warning."""
    for vec in vecs:
        px, py, angle = df[f"{vec}_px"], df[f"{vec}_py"], df["aug_angle"]
        df[f"{vec}_pxtmp"] = px * np.cos(angle) - py * np.sin(angle)
        df[f"{vec}_py"] = py * np.cos(angle) + df[f"{vec}_px"] * np.sin(angle)
        df[f"{vec}_px"] = df[f"{vec}_pxtmp"]


LUMIN_ROTATE: Callable[..., None] | None = None
"""LUMIN's own `HEPAugFoldYielder._rotate`, kept for the agreement test of mend 7."""


def _quiet_rotation(fold_yielder: types.ModuleType) -> None:
    global LUMIN_ROTATE
    if fold_yielder.HEPAugFoldYielder._rotate is not _rotate_into_new_columns:
        LUMIN_ROTATE = fold_yielder.HEPAugFoldYielder._rotate
    fold_yielder.HEPAugFoldYielder._rotate = _rotate_into_new_columns


def _console_bars_keep_an_empty_graph(fastprogress: types.ModuleType) -> None:
    def update_graph(self: object, *args: object, **kwargs: object) -> None:
        self.fig = None  # type: ignore[attr-defined]  # a console has no live plot; LUMIN deletes this afterwards

    fastprogress.ConsoleMasterBar.update_graph = update_graph


FOLD_ORDER = random.Random()
"""The generator LUMIN's training shuffles fold order with (mend 4)."""


def _private_fold_order(model_module: types.ModuleType) -> None:
    model_module.shuffle = FOLD_ORDER.shuffle


class _RunAfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds one module with the normal machinery, executes it, then hands it to `action`."""

    def __init__(self, name: str, action: Callable[[types.ModuleType], None]) -> None:
        self.name, self.action = name, action
        self._loader: importlib.abc.Loader | None = None

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        self.action(module)


def _when_imported(name: str, action: Callable[[types.ModuleType], None]) -> None:
    if name in sys.modules:
        action(sys.modules[name])
    elif not any(isinstance(f, _RunAfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _RunAfterImport(name, action))


def apply() -> None:
    """Apply every mend; safe to call more than once."""
    _register_pdpbox_stand_in()
    _register_torch_geometric_stand_in()
    _restore_nan_alias()
    _import_imghdr_quietly()
    _when_imported("torch.serialization", _allow_numpy_in_checkpoints)
    _when_imported("fastprogress.fastprogress", _console_bars_keep_an_empty_graph)
    _when_imported("lumin.nn.models.model", _private_fold_order)
    _when_imported("lumin.nn.data.fold_yielder", _quiet_rotation)
