"""The study's search space: dense Swish bodies of depth 2-8 and width 33-100 with a growth rate in [-0.2, 1], a weight
decay and a dropout from fixed sets; architectures outside 5,000-100,000 trainable parameters are rejected."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

DEPTHS = (2, 8)
WIDTHS = (33, 100)
GROWTH_RATES = (-0.2, 1.0)
WEIGHT_DECAYS = (0.0, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11)
"""The study's 1e-5 x {0, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6}."""
DROPOUTS = (0.0, 0.05, 0.1, 0.25, 0.5)
PARAMETERS = (5_000, 100_000)
NAMES = ("depth", "width", "growth_rate", "weight_decay", "dropout")


@dataclass(frozen=True)
class Params:
    """One point of the space."""

    depth: int
    width: int
    growth_rate: float
    weight_decay: float
    dropout: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_list(self) -> list[Any]:
        """In the order of `dimensions()`, for scikit-optimize."""
        return [getattr(self, name) for name in NAMES]

    @classmethod
    def from_list(cls, values: list[Any]) -> Params:
        depth, width, growth, wd, do = values
        return cls(int(depth), int(width), float(growth), float(wd), float(do))

    @property
    def label(self) -> str:
        """The study's way of naming a pick: depth-width-growth rate, e.g. 4-40-0.45."""
        return f"{self.depth}-{self.width}-{self.growth_rate:.2g}"


def dimensions() -> list[Any]:
    """The space as scikit-optimize dimensions."""
    from skopt.space import Categorical, Integer, Real

    return [Integer(*DEPTHS, name="depth"), Integer(*WIDTHS, name="width"), Real(*GROWTH_RATES, name="growth_rate"),
            Categorical(list(WEIGHT_DECAYS), name="weight_decay"), Categorical(list(DROPOUTS), name="dropout")]


def random_params(rng: np.random.Generator) -> Params:
    """A uniform draw over the space (before the parameter-count check)."""
    return Params(int(rng.integers(DEPTHS[0], DEPTHS[1] + 1)), int(rng.integers(WIDTHS[0], WIDTHS[1] + 1)),
                  float(rng.uniform(*GROWTH_RATES)), float(rng.choice(WEIGHT_DECAYS)), float(rng.choice(DROPOUTS)))


def model_builder(params: Params, train_fy: Any) -> Any:
    """The study's searched model: a dense Swish body with the embedded jet multiplicity, Adam with weight decay.

    LUMIN 0.9.1 warns that it recommends AdamW with weight decay; the study used Adam, so that warning is silenced.
    """
    from lumin.nn.models.blocks.body import FullyConnected
    from lumin.nn.models.helpers import CatEmbedder
    from lumin.nn.models.model_builder import ModelBuilder

    warnings.filterwarnings("ignore", message="According to arXiv:1711.05101", category=UserWarning)

    body = partial(FullyConnected, depth=params.depth, width=params.width, act="swish", dense=True,
                   growth_rate=params.growth_rate, do=params.dropout)
    return ModelBuilder("classification", cont_feats=train_fy.cont_feats, n_out=1,
                        cat_embedder=CatEmbedder.from_fy(train_fy, emb_szs=[3]), body=body,
                        opt_args={"opt": "adam", "eps": 1e-8, "weight_decay": params.weight_decay})


def size(params: Params, train_fy: Any) -> tuple[int, int]:
    """(trainable parameters, width of the body's output) of the model `params` describe."""
    from lumin.nn.models.model import Model

    model = Model(model_builder(params, train_fy))
    return int(model.get_param_count()), int(model.body.get_out_size())


def acceptable(params: Params, train_fy: Any) -> bool:
    """Within the study's 5k-100k trainable parameters, with a body at least two neurons wide."""
    n_parameters, width = size(params, train_fy)
    return PARAMETERS[0] <= n_parameters <= PARAMETERS[1] and width > 1
