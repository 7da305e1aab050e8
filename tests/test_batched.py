"""The batched engine against LUMIN: its hand-written gradients equal autograd's through LUMIN's own networks, and
members trained all at once equal the same members trained by LUMIN one by one.

Tolerance: the batched engine starts each member from LUMIN's initial weights and feeds it LUMIN's batches of
LUMIN's augmented events in LUMIN's order, with LUMIN's own schedule callbacks; only the order of floating-point
sums inside the stacked matrix products differs. Measured here, the validation losses then agree to about 1e-7
relative over the first epochs, so the tests allow 1e-5. A member fed even one batch out of place ends an epoch
about 1% away (measured while building the engine), and one that saturated outputs are handled differently for
(LUMIN's BCE gives them no gradient) drifted by 0.2% within two epochs, so neither could pass.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from lumin.nn.models.model import Model
from lumin.nn.models.model_builder import ModelBuilder
from quick_models import final_model, quick_train_folds

from modules import training
from modules.batched.engine import train as batched_train
from modules.batched.engine import unsupported
from modules.batched.network import StackedNetwork, Unsupported
from modules.folds import fold_yielder
from modules.models.original import SWA, EarlyStopping, OneCycle
from modules.training.engines import choose
from modules.training.job import Job
from modules.training.loop import max_ams

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:According to arXiv")]

RELATIVE = 1e-5


@pytest.fixture(scope="module")
def train_fy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from quick_train_folds(tmp_path_factory.mktemp("batched"), seed=31)


def relu_builder(fy: Any) -> Any:
    """Experiment 1's kind of network: plain ReLU layers, no embedding, LUMIN's default Adam."""
    return ModelBuilder("classification", cont_feats=fy.cont_feats + fy.cat_feats, n_out=1,
                        model_args={"body": {"act": "relu", "width": 40, "depth": 3}}, opt_args={"opt": "adam"})


def growing_builder(fy: Any) -> Any:
    """The search's kind of network: a dense Swish body whose layers widen (growth rate 0.5), weight decay."""
    return ModelBuilder("classification", cont_feats=fy.cont_feats + fy.cat_feats, n_out=1,
                        model_args={"body": {"act": "swish", "width": 20, "depth": 4, "dense": True,
                                             "growth_rate": 0.5}},
                        opt_args={"opt": "adam", "eps": 1e-8, "weight_decay": 1e-4})


def split_builder(fy: Any, kind: str) -> Any:
    """Experiments 14-16's kinds of body (LUMIN's MultiBlock): DER and PRI features in separate blocks, the same with
    a single-neuron bottleneck into each block (here a linear one for the plain ReLU block), and wide-deep."""
    from lumin.nn.models.blocks.body import FullyConnected, MultiBlock
    from lumin.nn.models.helpers import CatEmbedder

    from modules.models import bodies

    feats = fy.cont_feats + fy.cat_feats
    der, pri = bodies.der_features(feats), bodies.pri_features(feats)
    wide = partial(FullyConnected, depth=1, width=12, act="swish")
    deep = partial(FullyConnected, depth=3, width=10, act="swish", dense=True)
    plain = partial(FullyConnected, depth=2, width=9, act="relu")
    blocks, per_block, extra = {"split": ([wide, deep], [der, pri], {}),
                                "bottleneck": ([plain, deep], [der, pri], {"bottleneck_sz": 1}),
                                "wide-deep": ([wide, deep], [der, feats], {})}[kind]
    body = partial(MultiBlock, blocks=blocks, feats_per_block=per_block, **extra)
    return ModelBuilder("classification", cont_feats=fy.cont_feats, n_out=1,
                        cat_embedder=CatEmbedder.from_fy(fy, emb_szs=[3]), body=body,
                        opt_args={"opt": "adam", "eps": 1e-8})


@pytest.mark.parametrize("kind", ["dense swish with embedding", "plain relu", "growing dense swish", "split",
                                  "bottleneck", "wide-deep"])
def test_stacked_gradients_equal_autograd_through_lumin_networks(train_fy: Any, kind: str) -> None:
    builder = {"dense swish with embedding": final_model, "plain relu": relu_builder,
               "growing dense swish": growing_builder}.get(kind, partial(split_builder, kind=kind))(train_fy)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(Model(builder))
    net = StackedNetwork([m.model for m in models])
    fold = train_fy.get_fold(0)
    batch = 128
    x = torch.tensor(fold["inputs"][:3 * batch].reshape(3, batch, -1), dtype=torch.float32)
    y = torch.tensor(fold["targets"][:3 * batch].reshape(3, batch), dtype=torch.float32)
    w = torch.tensor(fold["weights"][:3 * batch].reshape(3, batch), dtype=torch.float32)
    logits, cache = net.forward(x, keep=True)
    p = torch.sigmoid(logits)
    net.backward(cache, (p - y) * w / batch)
    for k, model in enumerate(models):
        model.model.zero_grad()
        out = model.model(x[k])
        torch.nn.BCELoss(weight=w[k, :, None])(out, y[k, :, None]).backward()
        assert torch.allclose(out[:, 0], p[k], rtol=1e-5, atol=1e-7)
        mine = net.state_dict(k, net.grad)
        for name, parameter in model.model.named_parameters():
            scale = parameter.grad.abs().max()
            assert (mine[name].reshape(parameter.shape) - parameter.grad).abs().max() <= 1e-5 * scale, name
        weights = net.state_dict(k)
        assert all(torch.equal(weights[name].reshape(v.shape), v) for name, v in model.model.state_dict().items())


def losses(trained: training.Training) -> np.ndarray:
    return np.array([m.history[0]["Validation"] for m in trained.members])


@pytest.mark.parametrize("make", [pytest.param(final_model, marks=pytest.mark.core), growing_builder],
                         ids=["final model", "growing, weight decay"])
def test_batched_members_equal_lumin_members_with_1cycle_and_augmentation(train_fy: Any, tmp_path: Path,
                                                                          make: Any) -> None:
    builder = make(train_fy)
    # beta1 cycled, so the batched Adam's per-member beta1 is exercised; the published runs' later-member warm-up
    # from LR 0 is kept
    onecycle = partial(OneCycle, lengths=(5, 10), lr_range=[1e-4, 1e-2], mom_range=(0.85, 0.95), interp="cosine",
                       cycle_beta1=True)
    torch.set_num_threads(1)
    lumin = training.train_ensemble(train_fy, builder, 3, 3, tmp_path / "lumin", cb_partials=[onecycle], seed=5)
    batched = training.train_ensemble(train_fy, builder, 3, 3, tmp_path / "batched", cb_partials=[onecycle], seed=5,
                                      engine="batched")
    assert batched.config["engine"] == "batched" and lumin.config["engine"] == "lumin"
    assert losses(batched).shape == (3, 15)  # 1cycle's 15 sub-epochs, then it ends training
    np.testing.assert_allclose(losses(batched), losses(lumin), rtol=RELATIVE)
    for a, b in zip(lumin.members, batched.members, strict=True):
        assert a.result["loss"] == pytest.approx(b.result["loss"], rel=RELATIVE)
        np.testing.assert_allclose(a.history[0]["Training"], b.history[0]["Training"], rtol=RELATIVE)
        np.testing.assert_allclose(a.recorder.lr, b.recorder.lr, rtol=1e-12)
        np.testing.assert_allclose(a.recorder.momentum, b.recorder.momentum, rtol=1e-12)
        assert a.recorder.batches_per_epoch == b.recorder.batches_per_epoch
        # The saved member is a LUMIN Model that predicts as LUMIN's does.
        mine = Model(builder)
        mine.load(Path(b.result["path"]) / f"train_{b.index}.h5")
        theirs = Model(builder)
        theirs.load(Path(a.result["path"]) / f"train_{a.index}.h5")
        x = torch.tensor(train_fy.get_data(n_folds=1, fold_idx=b.index)["inputs"], dtype=torch.float32)
        with torch.no_grad():
            assert torch.allclose(mine.model.eval()(x), theirs.model.eval()(x), rtol=1e-4, atol=1e-6)


def test_batched_early_stopping_stops_where_lumin_does(train_fy: Any, tmp_path: Path) -> None:
    plain = fold_yielder(Path(train_fy.foldfile.filename), augment=False)
    try:
        builder = relu_builder(plain)
        torch.set_num_threads(1)
        lumin = training.train_ensemble(plain, builder, 2, 12, tmp_path / "lumin", patience=2, seed=11)
        batched = training.train_ensemble(plain, builder, 2, 12, tmp_path / "batched", patience=2, seed=11,
                                          engine="batched")
    finally:
        plain.close()
    assert [m.epochs for m in batched.members] == [m.epochs for m in lumin.members]
    assert any(m.epochs < 12 * 9 for m in lumin.members)  # early stopping did act (patience: 2 sub-epochs)
    for a, b in zip(lumin.members, batched.members, strict=True):
        np.testing.assert_allclose(b.history[0]["Validation"], a.history[0]["Validation"], rtol=RELATIVE)
        assert b.result["loss"] == pytest.approx(a.result["loss"], rel=RELATIVE)


def batch_norm_builder(fy: Any) -> Any:
    """A network the batched engine does not have: batch normalisation in the body."""
    return ModelBuilder("classification", cont_feats=fy.cont_feats + fy.cat_feats, n_out=1,
                        model_args={"body": {"act": "swish", "width": 20, "depth": 2, "bn": True}},
                        opt_args={"opt": "adam"})


def dropout_builder(fy: Any) -> Any:
    """The search's kind of network with dropout: a dense Swish body, 10% of each layer's outputs dropped."""
    from lumin.nn.models.helpers import CatEmbedder

    return ModelBuilder("classification", cont_feats=fy.cont_feats, n_out=1,
                        cat_embedder=CatEmbedder.from_fy(fy, emb_szs=[3]),
                        model_args={"body": {"act": "swish", "width": 20, "depth": 3, "dense": True, "do": 0.1}},
                        opt_args={"opt": "adam", "eps": 1e-8})


def test_what_the_batched_engine_cannot_train_is_named_and_falls_back_to_lumin(
        train_fy: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    builder = batch_norm_builder(train_fy)
    assert "batch-norm" in unsupported(builder, [])
    assert unsupported(final_model(train_fy), [partial(SWA, start_epoch=1, renewal_period=1)]) is None
    early = partial(EarlyStopping, patience=2)  # patience is the engine's own argument, not a callback
    assert "EarlyStopping" in unsupported(final_model(train_fy), [early])
    with pytest.raises(Unsupported, match="batch-norm"):
        batched_train(train_fy, builder, [0], 1, tmp_path / "x", [], None, 256, [1])
    job = Job(train_fy, builder, 1, 1, tmp_path / "x", [], None, 256, 1)
    assert choose("batched", job, what="a trial").name == "lumin"
    assert "cannot train a trial" in capsys.readouterr().out
    assert choose("batched", replace(job, model_builder=final_model(train_fy)), what="experiment 13").name == \
        "batched"
    with pytest.raises(ValueError, match="fastest"):
        choose("fastest", job)
    fell_back = training.train_ensemble(train_fy, builder, 1, 1, tmp_path / "y", seed=1, engine="batched",
                                        what="a trial")
    assert fell_back.config["engine"] == "lumin" and "cannot train a trial" in capsys.readouterr().out


def test_batched_dropout_draws_lumins_masks(train_fy: Any, tmp_path: Path) -> None:
    # Each member draws its dropout masks from its own generator, started where LUMIN's training of it alone starts;
    # members of unequal batch counts (validation folds of different sizes) draw only for the batches they have.
    builder = dropout_builder(train_fy)
    assert unsupported(builder, []) is None
    torch.set_num_threads(1)
    lumin = training.train_ensemble(train_fy, builder, 3, 2, tmp_path / "lumin", seed=8)
    batched = training.train_ensemble(train_fy, builder, 3, 2, tmp_path / "batched", seed=8, engine="batched")
    assert batched.config["engine"] == "batched"
    np.testing.assert_allclose(losses(batched), losses(lumin), rtol=RELATIVE)
    for a, b in zip(lumin.members, batched.members, strict=True):
        np.testing.assert_allclose(b.history[0]["Training"], a.history[0]["Training"], rtol=RELATIVE)
    alone = training.train_ensemble(train_fy, builder, 1, 1, tmp_path / "alone", seed=8, engine="batched")
    # the first member's masks do not depend on the members beside it (another mask moves a loss by about 1e-2)
    assert alone.members[0].history[0]["Training"][:9] == pytest.approx(
        batched.members[0].history[0]["Training"][:9], rel=1e-6)


def test_batched_swa_equals_lumins_where_the_average_is_the_state_kept(train_fy: Any, tmp_path: Path) -> None:
    # A high constant LR (2e-2): the averages validate better than the live weights, so the state kept is SWA's
    # (the branch a quick run of experiments 9-11 never reaches); renewals every 2 sub-epochs compare the averages.
    builder = final_model(train_fy)
    builder.opt_args["lr"] = 2e-2
    swa = partial(SWA, start_epoch=2, renewal_period=2)
    torch.set_num_threads(1)
    lumin = training.train_ensemble(train_fy, builder, 2, 2, tmp_path / "lumin", cb_partials=[swa], patience=4,
                                    seed=5)
    batched = training.train_ensemble(train_fy, builder, 2, 2, tmp_path / "batched", cb_partials=[swa], patience=4,
                                      seed=5, engine="batched")
    assert batched.config["engine"] == "batched"
    for a, b in zip(lumin.members, batched.members, strict=True):
        assert a.result["loss"] == min(a.history[0]["SWA"]) < min(a.history[0]["Validation"])
        np.testing.assert_allclose(b.history[0]["SWA"], a.history[0]["SWA"], rtol=RELATIVE)
        np.testing.assert_allclose(b.history[0]["Validation"], a.history[0]["Validation"], rtol=RELATIVE)
        assert b.result["loss"] == pytest.approx(a.result["loss"], rel=RELATIVE)
        assert b.epochs == a.epochs


def test_members_of_one_engine_are_not_reused_by_the_other(train_fy: Any, tmp_path: Path) -> None:
    builder = final_model(train_fy)
    training.train_ensemble(train_fy, builder, 1, 1, tmp_path, seed=3)
    again = training.train_ensemble(train_fy, builder, 1, 1, tmp_path, seed=3, engine="batched")
    assert again.config["reused_members"] == [] and again.config["engine"] == "batched"


@pytest.mark.core
def test_the_vectorised_ams_metric_equals_lumins_scan() -> None:
    """LUMIN's scan subtracts weights one by one from a running sum: it gets float64 weights (the same values), since
    under numpy 2's promotion rules its running sums of float32 weights stay float32 and drift by 5e-4 relative."""
    from lumin.evaluation.ams import ams_scan_quick

    rng = np.random.default_rng(4)
    for n in (200, 4000):
        pred = rng.random(n).astype(np.float32)
        target = (rng.random(n) < 0.2 + 0.6 * pred).astype(np.float32)
        weight = np.where(target == 1, 0.01 * rng.random(n), 2 * rng.random(n)).astype(np.float32)
        frame = pd.DataFrame({"pred": pred, "gen_target": target, "gen_weight": weight.astype(np.float64)})
        expected = ams_scan_quick(frame, wgt_factor=30, br=10)[0]
        assert max_ams(pred, target, weight, 30 * n) == pytest.approx(expected, rel=1e-4)


def test_the_speed_benchmark_runs_short_and_writes_nothing_into_the_project(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from modules import paths

    before = {p: p.stat().st_mtime for p in paths.RESULTS_DIR.rglob("*.json")}
    weights = sorted(paths.WEIGHTS_DIR.glob("*")) if paths.WEIGHTS_DIR.exists() else []
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp_path / "data"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "benchmarks/bench_final_model.py", "--quick", "--models", "2",
                           "--epochs", "2"], capture_output=True, text=True, env=env, timeout=900,
                          cwd=paths.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    training = next(line for line in lines if line.startswith("training (s)")).split()
    assert float(training[-3]) > 0 and float(training[-2]) > 0 and float(training[-1]) > 0  # (a), (b), b/a
    assert any(line.startswith("val_ams_smooth") for line in lines)
    assert "largest relative difference" in done.stdout and "training throughput (b)" in done.stdout
    spread = next(line for line in lines if line.startswith("(a') done"))  # the study's loop on two Dask workers
    assert float(spread.split("differ from (a)'s by at most ")[1]) < 1e-5  # the same members, wherever trained
    assert {p: p.stat().st_mtime for p in paths.RESULTS_DIR.rglob("*.json")} == before
    assert (sorted(paths.WEIGHTS_DIR.glob("*")) if paths.WEIGHTS_DIR.exists() else []) == weights
