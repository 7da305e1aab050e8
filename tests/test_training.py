"""Member-by-member training against LUMIN's own `train_models`, seeding, the training record, and the bookkeeping
that turns a ModelBuilder and callbacks into data."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from quick_models import final_model, quick_train_folds

from modules import training
from modules.models.describe import as_data, describe_model
from modules.models.schedules import epochs_from_sub_epochs
from modules.quiet import silenced
from modules.session import FULL, QUICK

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train_fy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from quick_train_folds(tmp_path_factory.mktemp("training"), seed=5)


builder = final_model


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"]


def test_members_one_at_a_time_equal_one_lumin_call_over_all_members(train_fy: Any, tmp_path: Path) -> None:
    """Without per-member seeds the generators run on from one seed, exactly as in LUMIN's loop over members."""
    from lumin.nn.training.train import train_models

    training.seed_everything(11)
    with silenced():
        reference, _, _ = train_models(train_fy, 3, bs=256, model_builder=builder(train_fy), n_epochs=2,
                                       metric_partials=[training.ams_metric(train_fy)], savepath=tmp_path / "lumin",
                                       live_fdbk=False)
    training.seed_everything(11)
    ours = training.train_ensemble(train_fy, builder(train_fy), 3, 2, tmp_path / "ours")
    assert [r["loss"] for r in ours.results] == [r["loss"] for r in reference]
    assert [r["AMS"] for r in ours.results] == [r["AMS"] for r in reference]
    for i in range(3):
        a = weights_of(tmp_path / "lumin" / f"model_id_{i}" / f"train_{i}.h5")
        b = weights_of(tmp_path / "ours" / f"model_id_{i}" / f"train_{i}.h5")
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [p.name for p in sorted((tmp_path / "ours").glob("model_id_*"))] == ["model_id_0", "model_id_1",
                                                                                  "model_id_2"]


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
    assert config["epochs_trained"] == [3, 3] and config["seed"] == 1 and config["engine"] == "lumin"
    assert len(config["member_seconds"]) == 2 and sum(config["member_seconds"]) <= trained.seconds
    json.dumps(config)  # the record is plain data
    member = trained.members[0]
    assert member.callback(CycleLR) is not trained.members[1].callback(CycleLR)  # one instance per member
    assert len(member.recorder.batches_per_epoch) == 3
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


def test_partials_of_partials_are_written_out_as_nested_data() -> None:
    from lumin.nn.models.blocks.body import FullyConnected, MultiBlock

    body = partial(MultiBlock, blocks=[partial(FullyConnected, depth=1, width=50, act="swish")],
                   feats_per_block=[["DER_mass_MMC"]], bottleneck_sz=1)
    assert as_data(body) == {"class": "MultiBlock", "feats_per_block": [["DER_mass_MMC"]], "bottleneck_sz": 1,
                             "blocks": [{"class": "FullyConnected", "depth": 1, "width": 50, "act": "swish"}]}
    assert training.describe_partial(partial(str, 3, x=1)) == "str(3, x=1)"


def test_sub_epochs_become_whole_epochs() -> None:
    assert (epochs_from_sub_epochs(45), epochs_from_sub_epochs(90)) == (5, 10)
    assert [epochs_from_sub_epochs(n) for n in (1, 5, 50)] == [1, 1, 6]


def test_quick_mode_shrinks_every_length_the_same_way() -> None:
    assert (FULL.models(1), FULL.epochs(200), FULL.cycle(6), FULL.patience(6)) == (1, 200, 6, 6)
    assert (QUICK.models(10), QUICK.models(1), QUICK.epochs(200), QUICK.epochs(200, quick=4)) == (2, 1, 2, 4)
    assert (QUICK.cycle(6), QUICK.patience(6), QUICK.epochs(1)) == (1, None, 1)
