"""A LUMIN ModelBuilder written out as data for the results JSON: what a notebook varies (body and its arguments,
embedding sizes, optimiser, loss) and the parameter count, so results can be tabulated without opening notebooks."""

from __future__ import annotations

from functools import partial
from typing import Any


def as_data(value: Any) -> Any:
    """JSON-ready form of a model argument: partials and classes by name with their keyword arguments."""
    if isinstance(value, partial):
        return {"class": getattr(value.func, "__name__", repr(value.func)),
                **{k: as_data(v) for k, v in value.keywords.items()}}
    if isinstance(value, type) or callable(value):
        return getattr(value, "__name__", repr(value))
    if isinstance(value, dict):
        return {str(k): as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _block(block: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A head, body or tail: its class (or partial with its arguments) plus the `model_args` given for it."""
    described = as_data(block)
    return {**(described if isinstance(described, dict) else {"class": described}), **as_data(kwargs)}


def parameter_count(model_builder: Any) -> int:
    """Trainable parameters of the networks a ModelBuilder makes; building one draws no random numbers from the
    generators training uses (so describing a model never changes what trains next)."""
    import torch
    from lumin.nn.models.model import Model

    with torch.random.fork_rng(devices=[]):
        return int(Model(model_builder).get_param_count())


def describe_model(model_builder: Any) -> dict[str, Any]:
    """Everything that defines the networks a ModelBuilder makes, and how many trainable parameters each has."""
    mb = model_builder
    embedder = mb.cat_embedder
    return {
        "objective": mb.objective,
        "n_out": mb.n_out,
        "cont_feats": list(mb.cont_feats or []),
        "cat_embedder": None if embedder is None else {
            "features": list(embedder.cat_names), "cardinalities": [int(s) for s in embedder.cat_szs],
            "emb_szs": [int(s) for s in embedder.emb_szs]},
        "head": _block(mb.head, mb.head_kargs),
        "body": _block(mb.body, mb.body_kargs),
        "tail": _block(mb.tail, mb.tail_kargs),
        "opt": as_data(mb.opt),
        "opt_args": as_data(mb.opt_args),
        "loss": as_data(mb.loss),
        "n_parameters": parameter_count(mb),
    }


def describe_partial(p: Any) -> str:
    """A readable one-liner for a functools.partial of a callback, for the results JSON."""
    if not isinstance(p, partial):
        return getattr(p, "__name__", repr(p))
    args = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    return f"{p.func.__name__}({', '.join(args)})"
