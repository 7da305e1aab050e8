"""The study's ensemble kinds, built from a `training.Training` with LUMIN's `Ensemble`:

- plain: every member's best state, weighted by the reciprocal of its validation loss (experiments 1-6, 9-16);
- snapshot (SSE, experiment 7) and fast geometric (FGE, experiment 8): per member its best state plus the states
  saved at the ends of the `n_cycles` cycles before it, weighted by (n + 2) ** weighting_pwr for the n-th cycle back
  (the best state weighs 1), all members' states together normalised to sum to one: the states LUMIN 0.5.1 loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.models import original
from modules.training import Training


def load_ensemble(training: Training, model_builder: Any) -> Any:
    """Every member's best state as a LUMIN Ensemble weighted by the reciprocal of its validation loss."""
    from lumin.nn.ensemble.ensemble import Ensemble

    return Ensemble.from_results(training.results, len(training.results), model_builder, metric="loss",
                                 higher_metric_better=False, verbose=False)


def snapshot_ensemble(training: Training, model_builder: Any, n_cycles: int, weighting_pwr: float) -> Any:
    """Each member's best state and the cycle-end states before it, the states LUMIN 0.5.1 loaded (the members must
    train with `cycle_save=True`; see `original.snapshot_states`).

    0.5.1 takes the best cycle to be the last one minus the early-stopping patience, which holds when training was
    stopped early; a run without early stopping (quick mode) ends on its best cycle, so its patience counts as 0.
    LUMIN 0.9.1 saves cycle c (counted from 1, as 0.5.1 numbered it) as `cycle_<c - 1>.h5`.
    """
    from lumin.nn.ensemble.ensemble import Ensemble

    if not any(training.cycle_losses):
        raise ValueError("no cycle states were saved: give the cyclic callback cycle_save=True")
    patience = training.config.get("patience") or 0
    models, weights, loaded = [], [], []
    for member in sorted(training.members, key=lambda m: m.result["loss"]):
        folder = Path(member.result["path"])
        for cycle, weight in original.snapshot_states(len(member.cycle_losses), patience, n_cycles, weighting_pwr):
            name = folder / (f"train_{member.index}.h5" if cycle is None else f"cycle_{cycle - 1}.h5")
            models.append(Ensemble.load_trained_model(name, model_builder))
            weights.append(weight)
            loaded.append([member.index, cycle])
    ensemble = Ensemble.from_models(models, weights=weights, results=training.results, model_builder=model_builder)
    ensemble.description = {"kind": "snapshot", "n_cycles": n_cycles, "weighting_pwr": weighting_pwr,
                            "selection": "LUMIN 0.5.1's: the best state and the cycles before it (counted from 1)",
                            "loaded": loaded}
    return ensemble


def describe_ensemble(ensemble: Any) -> dict[str, Any]:
    """The record of an ensemble: its kind and settings, how many states it holds and their weights."""
    kind = getattr(ensemble, "description", {"kind": "plain", "weighting": "reciprocal validation loss"})
    return {**kind, "states": len(ensemble.models), "weights": [round(float(w), 6) for w in ensemble.weights]}
