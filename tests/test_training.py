"""Member-by-member training as LUMIN 0.5.1 trained (sub-epochs, its early stopping and best state), seeding, the
training record, and the bookkeeping that turns a ModelBuilder and callbacks into data."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from quick_models import final_model, quick_train_folds

from modules import training
from modules.models.describe import as_data, describe_model
from modules.session import FULL, QUICK

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train_fy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from quick_train_folds(tmp_path_factory.mktemp("training"), seed=5)


builder = final_model


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"]


@pytest.mark.core
def test_members_train_in_sub_epochs_as_lumin_0_5_1_did(train_fy: Any, tmp_path: Path) -> None:
    """One training fold per sub-epoch, then validation; the best state is the one with the lowest validation loss,
    saved and reloaded; the reported AMS is LUMIN's quick scan of that state on the validation fold."""
    from lumin.nn.models.model import Model

    trained = training.train_ensemble(train_fy, builder(train_fy), 2, 2, tmp_path, seed=11)
    for member in trained.members:
        validation = member.history[0]["Validation"]
        assert member.epochs == 18 == len(validation) == len(member.history[0]["Training"])
        assert member.recorder.batches_per_epoch == [train_fy.get_data_count(f) // 256 for f in member.recorder.folds]
        assert member.result["loss"] == pytest.approx(min(validation), rel=1e-6)
        best = Model(builder(train_fy))
        best.load(member.result["path"] / f"train_{member.index}.h5")
        fold = train_fy.get_fold(member.index)  # a fresh augmentation: close to, not equal to, the one validated on
        assert best.evaluate(fold["inputs"], fold["targets"], fold["weights"]) == pytest.approx(min(validation),
                                                                                               rel=0.05)
        assert 0 < member.result["AMS"] < 10


def test_patience_counts_sub_epochs_and_stops_where_0_5_1_stopped(train_fy: Any, tmp_path: Path) -> None:
    """Without a cyclic schedule, training stops once `patience` sub-epochs in a row did not lower the validation
    loss (a tie counts as an improvement, as in 0.5.1)."""
    import copy

    fast = copy.deepcopy(builder(train_fy))
    fast.set_lr(3e-2)  # high enough that the validation loss soon stops improving
    trained = training.train_ensemble(train_fy, fast, 1, 12, tmp_path, patience=4, seed=2)
    validation = trained.members[0].history[0]["Validation"]
    best = int(np.argmin(validation))
    assert len(validation) < 12 * 9, "early stopping acted"
    assert len(validation) == best + 1 + 4
    assert all(v > validation[best] for v in validation[best + 1:])


def test_with_a_cyclic_schedule_patience_counts_cycle_ends_since_the_last_improvement() -> None:
    """0.5.1's rule: an improvement resets the count; each later cycle end without one adds 1 (0.9.1 instead counts
    whole cycles without an improvement, which can stop a cycle later)."""
    from modules.models.original import EarlyStopping

    cyclic = SimpleNamespace(cycle_end=False)
    model = SimpleNamespace(fit_params=SimpleNamespace(state="valid", stop=False, cyclic_cbs=[cyclic],
                                                       metric_log=SimpleNamespace(val_epoch_results=None)))
    stopping = EarlyStopping(patience=2)
    stopping.set_model(model)
    stopping.on_train_begin()
    # sub-epochs in cycles of 3: the loss improves in the middle of cycle 2, never after
    losses = [5, 4, 3, 3.5, 2, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1]
    stopped_at = None
    for k, loss in enumerate(losses, start=1):
        cyclic.cycle_end = k % 3 == 0
        model.fit_params.metric_log.val_epoch_results = (np.array([loss]), None)
        stopping.on_epoch_end()
        if model.fit_params.stop:
            stopped_at = k
            break
    assert stopped_at == 9  # cycle ends at 6 and 9 since the improvement at sub-epoch 5; 0.9.1 would go on to 12


def test_a_seeded_member_is_the_same_whichever_members_ran_before_it(train_fy: Any, tmp_path: Path) -> None:
    both = training.train_ensemble(train_fy, builder(train_fy), 2, 2, tmp_path / "both", seed=7)
    alone = training.train_member(train_fy, builder(train_fy), 1, 2, tmp_path / "alone", [], None, 256, seed=7)
    assert alone.result["loss"] == both.members[1].result["loss"]
    assert both.members[0].result["loss"] != both.members[1].result["loss"]
    other_seed = training.train_member(train_fy, builder(train_fy), 1, 2, tmp_path / "other", [], None, 256, seed=8)
    assert other_seed.result["loss"] != alone.result["loss"]


def test_the_training_record_says_what_ran(train_fy: Any, tmp_path: Path) -> None:
    from lumin.nn.callbacks.cyclic_callbacks import CycleLR

    cyclic = partial(CycleLR, lr_range=(2e-4, 2e-3), interp="linear", scale=1)
    trained = training.train_ensemble(train_fy, builder(train_fy), 2, 3, tmp_path, cb_partials=[cyclic], seed=1)
    config = trained.config
    assert config["callbacks"] == ["CycleLR(lr_range=(0.0002, 0.002), interp='linear', scale=1)"]
    assert config["sub_epochs_trained"] == [27, 27] and config["seed"] == 1 and config["engine"] == "lumin"
    assert len(config["member_seconds"]) == 2 and sum(config["member_seconds"]) <= trained.seconds
    json.dumps(config)  # the record is plain data
    member = trained.members[0]
    assert member.callback(CycleLR) is not trained.members[1].callback(CycleLR)  # one instance per member
    assert len(member.recorder.batches_per_epoch) == 27
    assert len(member.recorder.lr) == sum(member.recorder.batches_per_epoch)


def test_the_model_record_has_the_body_embedding_and_parameter_count(train_fy: Any) -> None:
    described = describe_model(builder(train_fy))
    assert described["body"] == {"class": "FullyConnected", "act": "swish", "width": 33, "depth": 6, "dense": True}
    assert described["cat_embedder"] == {"features": ["PRI_jet_num"], "cardinalities": [4], "emb_szs": [3]}
    assert described["opt"] == "Adam" and described["opt_args"] == {"eps": 1e-8, "lr": 2e-3}
    # embedding 4 x 3; 30 continuous + 3 embedded inputs into 6 dense layers of 33, each seeing the inputs and every
    # earlier layer's output; one output neuron on the last layer
    inputs = [33 + 33 * i for i in range(6)]
    expected = 4 * 3 + sum((n + 1) * 33 for n in inputs) + (33 + 1)
    assert described["n_parameters"] == expected
    json.dumps(described)


@pytest.mark.core
def test_partials_of_partials_are_written_out_as_nested_data() -> None:
    from lumin.nn.models.blocks.body import FullyConnected, MultiBlock

    body = partial(MultiBlock, blocks=[partial(FullyConnected, depth=1, width=50, act="swish")],
                   feats_per_block=[["DER_mass_MMC"]], bottleneck_sz=1)
    assert as_data(body) == {"class": "MultiBlock", "feats_per_block": [["DER_mass_MMC"]], "bottleneck_sz": 1,
                             "blocks": [{"class": "FullyConnected", "depth": 1, "width": 50, "act": "swish"}]}
    assert training.describe_partial(partial(str, 3, x=1)) == "str(3, x=1)"


@pytest.mark.core
def test_quick_mode_shrinks_every_length_the_same_way() -> None:
    assert (FULL.models(1), FULL.epochs(200), FULL.cycle(45), FULL.patience(50)) == (1, 200, 45, 50)
    assert (QUICK.models(10), QUICK.models(1), QUICK.epochs(200), QUICK.epochs(200, quick=4)) == (2, 1, 2, 4)
    assert [QUICK.cycle(n) for n in (1, 5, 45, 50, 90)] == [2, 2, 5, 6, 10]  # sub-epochs / 9, at least 2
    assert (QUICK.patience(50), QUICK.epochs(1)) == (None, 1)
