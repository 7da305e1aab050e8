"""What the training tests share: a few thousand simulated events prepared as the final model's notebook prepares
them, and the final model's ModelBuilder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modules.data import sources
from modules.data.prepare import PrepareOptions, prepare
from modules.folds import fold_yielder


def quick_train_folds(root: Path, seed: int) -> Iterator[Any]:
    """An augmenting fold yielder on 6,000 simulated events (4,800 for training) prepared with `seed`, closed after."""
    source = sources.resolve("simulated", data_dir=root, events=20_000)
    prepared = prepare(source, PrepareOptions(cat_feats=("PRI_jet_num",), seed=seed, max_events=6000),
                       root=root / "prepared")
    fy = fold_yielder(prepared.train, augment=True)
    yield fy
    fy.close()


def final_model(fy: Any) -> Any:
    """The final model's network: Swish, 6 dense layers of 33, the jet multiplicity embedded, Adam."""
    from lumin.nn.models.helpers import CatEmbedder
    from lumin.nn.models.model_builder import ModelBuilder

    return ModelBuilder("classification", cont_feats=fy.cont_feats, n_out=1,
                        cat_embedder=CatEmbedder.from_fy(fy, emb_szs=[3]),
                        model_args={"body": {"act": "swish", "width": 33, "depth": 6, "dense": True}},
                        opt_args={"opt": "adam", "eps": 1e-8})
