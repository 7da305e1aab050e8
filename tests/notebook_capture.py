"""Running an experiment's notebook only as far as its ensemble, to read what it would train: its ModelBuilder,
callbacks, epochs, patience and members, the data it trains on, and the ensemble it asks for. Nothing is trained."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from modules import paths, runner, session
from modules.catalogue import find_experiment
from modules.models import ensembles, schedules


class Captured(Exception):
    """Raised once a notebook has asked for its ensemble: everything wanted is known."""


class NotebookCapture:
    """`capture("13")` runs notebook 13 in this process on quick mode's data, with the study's full settings
    (`full`) or quick mode's, and returns what it passed to training (cached per experiment). With `keep_data` the
    training folds it built stay open (`train_fy`) until `close`."""

    def __init__(self, root: Path, full: bool = True, keep_data: bool = False) -> None:
        self.root, self.full, self.keep_data = root, full, keep_data
        self.cache: dict[str, dict[str, Any]] = {}
        self.open: list[Any] = []
        os.environ.setdefault("MPLBACKEND", "Agg")

    def __call__(self, number: str) -> dict[str, Any]:
        if number not in self.cache:
            self.cache[number] = self._run(number)
        return self.cache[number]

    def _run(self, number: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        real_start, full = session.start, self.full

        def start(*args: Any, **kwargs: Any) -> session.Session:
            run = real_start(*args, **kwargs)
            if full:
                run.scale = dataclasses.replace(session.FULL)  # the study's numbers, on quick mode's small data
            seen["seed"] = run.experiment.seed
            return run

        def train(self: Any, train_fy: Any, model_builder: Any, n_epochs: int, cb_partials: Any = None,
                  patience: Any = None, n_models: Any = None) -> Any:
            n_models = self.scale.n_models if n_models is None else self.scale.models(n_models)
            seen.update(builder=model_builder, n_epochs=n_epochs, cb_partials=list(cb_partials or []),
                        patience=patience, n_models=n_models, train_fy=train_fy)
            return SimpleNamespace(members=[SimpleNamespace(recorder=None)])

        def ensemble(kind: str) -> Any:
            def build(trained: Any, model_builder: Any, **kwargs: Any) -> Any:
                seen["ensemble"] = (kind, kwargs)
                raise Captured
            return build

        _, notebook = find_experiment(number)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(paths, "DATA_DIR", self.root / "data")
            mp.setattr(paths, "RESULTS_DIR", self.root / "results")
            mp.setattr(paths, "WEIGHTS_DIR", self.root / "weights")
            mp.setattr(session, "start", start)
            mp.setattr(session.Session, "train", train)
            mp.setattr(schedules, "plot_schedule", lambda *a, **k: [])
            mp.setattr(ensembles, "load_ensemble", ensemble("plain"))
            mp.setattr(ensembles, "snapshot_ensemble", ensemble("snapshot"))
            namespace: dict[str, Any] = {}
            try:
                namespace = runner.run_in_process(notebook, {"MACHINE": "local", "DATASET": "auto", "QUICK": True})
            except Captured:
                pass
            kept = seen.get("train_fy") if self.keep_data else None
            for value in namespace.values():
                if hasattr(value, "foldfile") and value is not kept:
                    value.close()
            if kept is not None:
                self.open.append(kept)
            else:
                seen.pop("train_fy", None)
        return seen

    def close(self) -> None:
        """Close the training folds kept open."""
        for fy in self.open:
            fy.close()
        self.open.clear()
