"""Where the next trial goes: a random draw (the study's way), or, once enough trials exist on any machine, the point a
Gaussian process fitted to all of them proposes (scikit-optimize's ask/tell, maximising the validation AMS at the
cut). Either way only architectures within the parameter budget are proposed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modules import seeds
from modules.search.space import Params, dimensions, random_params

OBJECTIVE = "val_ams_smooth"
"""The score a search maximises: the validation AMS at the chosen cut."""
MAX_DRAWS = 1000


def random_proposal(seed: int, index: int, acceptable: Callable[[Params], bool]) -> Params:
    """The index-th random trial of a search seeded with `seed`: the same every time (a restarted search redoes an
    unfinished trial exactly)."""
    rng = np.random.default_rng([seed, index])
    for _ in range(MAX_DRAWS):
        params = random_params(rng)
        if acceptable(params):
            return params
    raise RuntimeError(f"no acceptable architecture in {MAX_DRAWS} random draws")


def observations(trials: list[dict[str, Any]]) -> tuple[list[list[Any]], list[float]]:
    """(points, values to minimise) of the trials that have the objective."""
    points, values = [], []
    for trial in trials:
        score = trial["scores"].get(OBJECTIVE)
        if score is not None and np.isfinite(score):
            points.append(Params(**trial["params"]).as_list())
            values.append(-float(score))
    return points, values


def gp_proposal(trials: list[dict[str, Any]], seed: int, index: int, acceptable: Callable[[Params], bool],
                candidates: int = 20) -> Params:
    """The next point a Gaussian process on every trial so far proposes (expected improvement over candidates);
    the first acceptable one of `candidates` asked points, else a random draw."""
    from skopt import Optimizer

    points, values = observations(trials)
    optimizer = Optimizer(dimensions(), base_estimator="GP", n_initial_points=1,
                          random_state=seeds.derive(seed, index))
    optimizer.tell(points, values)
    for point in optimizer.ask(n_points=candidates):
        params = Params.from_list(point)
        if acceptable(params):
            return params
    return random_proposal(seed, index, acceptable)
