"""Each technique is really active where a notebook configures it, checked on the objects the notebook builds: the
notebooks are executed in this process in quick mode and their LUMIN objects inspected.

Schedules are checked against the LR (and momentum) the optimiser actually used at every step, recomputed here from
the study's formulas; ensembles by the states they hold and their weights; bodies by their layers and by which
features reach which block; test-time augmentation against an independent 8-copy mean.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modules import evaluation, paths, runner, training
from modules.catalogue import find_experiment
from modules.models import bodies

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`notebook_run("13")` executes that notebook in quick mode once per module and returns its namespace;
    `notebook_run("14", until="model_builder =")` stops after the model is built."""
    root = tmp_path_factory.mktemp("techniques")
    cache: dict[tuple[str, str | None], dict[str, Any]] = {}
    os.environ.setdefault("MPLBACKEND", "Agg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(paths, "DATA_DIR", root / "data")
        mp.setattr(paths, "RESULTS_DIR", root / "results")

        def run(number: str, until: str | None = None) -> dict[str, Any]:
            if (number, until) not in cache:
                _, notebook = find_experiment(number)
                # LUMIN's loop: these tests read LUMIN's own callbacks and recorder on the members (the batched
                # engine trains the same members, test_engine_parity.py)
                cache[number, until] = runner.run_in_process(
                    notebook, {"MACHINE": "local", "DATASET": "auto", "QUICK": True, "ENGINE": "lumin"}, until=until)
            return cache[number, until]

        yield run
    for namespace in cache.values():  # LUMIN holds fold files open (and locked) until closed
        if "train_fy" in namespace:
            namespace["train_fy"].close()


def steps_per_epoch(member: training.Member) -> int:
    counts = set(member.recorder.batches_per_epoch)
    assert len(counts) == 1, "every epoch has the same number of steps"
    return counts.pop()


# --- schedules: the LR the optimiser used, step by step --------------------------------------------------------

def sub_epochs(member: training.Member) -> int:
    return len(member.recorder.batches_per_epoch)


def test_every_sub_epoch_is_one_training_fold_in_a_fixed_order(notebook_run: Any) -> None:
    """As LUMIN 0.5.1 trained: one fold per sub-epoch, validated after each, the nine folds in one shuffled order
    that every pass repeats."""
    for member in notebook_run("4")["trained"].members:
        folds = member.recorder.folds
        assert len(folds) == 18 == len(member.history[0]["Validation"])  # quick mode: 2 epochs
        assert sorted(folds[:9]) == [j for j in range(10) if j != member.index] and folds[9:] == folds[:9]
        assert folds[:9] != sorted(folds[:9])


def cosine_cycles(first: int, mult: int, nb: int, steps: int) -> np.ndarray:
    """Cosine annealing from 2e-3 to 0 with warm restarts, cycles of `first` sub-epochs growing by `mult`."""
    lr, length = [], first * nb
    while len(lr) < steps:
        lr += [1e-3 * (1 + np.cos(np.pi * k / length)) for k in range(length)]
        length *= mult
    return np.array(lr[:steps])


def test_cosine_annealing_with_warm_restarts_doubles_each_cycle(notebook_run: Any) -> None:
    for member in notebook_run("5")["trained"].members:
        nb, lr = steps_per_epoch(member), np.array(member.recorder.lr)
        assert sub_epochs(member) == 27  # quick mode: 3 epochs; cycles of 1, 2, 4, 8 sub-epochs, then part of 16
        np.testing.assert_allclose(lr, cosine_cycles(1, 2, nb, 27 * nb), rtol=1e-9, atol=1e-12)
        assert lr[nb] == lr[3 * nb] == lr[7 * nb] == pytest.approx(2e-3)  # restarts after 1, 1 + 2, 1 + 2 + 4


def test_linear_cycles_of_two_sub_epochs_for_fast_geometric_ensembles(notebook_run: Any) -> None:
    for member in notebook_run("8")["trained"].members:
        nb, lr = steps_per_epoch(member), np.array(member.recorder.lr)
        cycle = 2 * nb  # the study's 5 sub-epochs, 2 in quick mode
        k = np.arange(len(lr)) % cycle
        expected = 2e-4 + 1.8e-3 * np.maximum(0, 1 - np.abs(2 * k / cycle - 1))
        np.testing.assert_allclose(lr, expected, rtol=1e-9, atol=1e-12)
        assert sub_epochs(member) == 36 and lr.max() == pytest.approx(2e-3)


def onecycle(nb: int, first: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1cycle in quick mode ((5, 10) sub-epochs of `nb` steps): LR, and beta1 as the paper describes it. As in
    LUMIN 0.5.1, only the first member warms up from 1e-4; the others start from 0."""
    up, down = 5 * nb, 10 * nb
    rise_up = (1 - np.cos(np.pi * np.arange(up) / up)) / 2  # 0 -> 1 along a half cosine
    rise_down = (1 - np.cos(np.pi * np.arange(down) / down)) / 2
    start = 1e-4 if first else 0.0
    lr = np.r_[start + (1e-2 - start) * rise_up, 1e-2 * (1 - rise_down)]
    return lr, np.r_[0.95 - 0.1 * rise_up, 0.85 + 0.1 * rise_down], np.r_[rise_up, rise_down]


@pytest.mark.parametrize("number", ["12", "13"])
def test_onecycle_moves_lr_up_then_down_and_leaves_beta1_at_0_9_as_published(notebook_run: Any, number: str) -> None:
    for member in notebook_run(number)["trained"].members:
        nb = steps_per_epoch(member)
        lr, mom = np.array(member.recorder.lr), np.array(member.recorder.momentum)
        assert sub_epochs(member) == 15  # quick mode: (5, 10) sub-epochs, then 1cycle ends training
        np.testing.assert_allclose(lr, onecycle(nb, member.index == 0)[0], rtol=1e-9, atol=1e-15)
        assert set(mom) == {0.9}  # LUMIN 0.5.1's set_mom never reached Adam's beta1
        assert lr[0] == pytest.approx(1e-4 if member.index == 0 else 0.0, abs=1e-12)


def test_the_cycled_beta1_experiment_really_cycles_beta1(notebook_run: Any) -> None:
    for member in notebook_run("23")["trained"].members:
        nb = steps_per_epoch(member)
        lr, mom = np.array(member.recorder.lr), np.array(member.recorder.momentum)
        expected_lr, expected_mom, _ = onecycle(nb, member.index == 0)
        np.testing.assert_allclose(lr, expected_lr, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(mom, expected_mom, rtol=1e-9)
        assert mom.min() == pytest.approx(0.85, abs=0.01) and mom[0] == pytest.approx(0.95)


def test_constant_lr_where_no_schedule_is_configured(notebook_run: Any) -> None:
    for member in notebook_run("9")["trained"].members:
        assert set(member.recorder.lr) == {1e-3}  # none set: Adam's default under LUMIN 0.5.1


# --- stochastic weight averaging -------------------------------------------------------------------------------

def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_swa_averages_differ_from_the_last_weights_and_are_validated(notebook_run: Any) -> None:
    from modules.models.original import SWA

    namespace = notebook_run("9")
    for member in namespace["trained"].members:
        swa = member.callback(SWA)
        assert swa.clock.swa_n >= 2, "several epochs were averaged"
        assert _max_difference(swa.weights, member.recorder.last_weights) > 1e-4
        history = member.history[0]
        assert len(history["SWA"]) == len(history["Validation"])
        assert history["SWA"][-1] != history["Validation"][-1], "the averaged weights are evaluated on their own"
        best = min(min(history["SWA"]), min(history["Validation"]))
        assert member.result["loss"] == pytest.approx(best, rel=1e-6), "selection considers raw and SWA weights"


def test_when_the_swa_average_validates_best_it_is_the_model_used(notebook_run: Any, tmp_path: Path) -> None:
    """The notebook's SWA at a higher constant LR (1e-2, 6 epochs), where averaging clearly pays: the member LUMIN
    saves, and the ensemble loads, is the SWA average itself, not the last weights."""
    from modules.models import ensembles
    from modules.models.original import SWA

    namespace = notebook_run("9")
    builder = copy.deepcopy(namespace["model_builder"])
    builder.set_lr(1e-2)
    trained = training.train_ensemble(namespace["train_fy"], builder, 1, 6, tmp_path / "w",
                                      cb_partials=[namespace["swa"]], seed=3)
    member = trained.members[0]
    history = member.history[0]
    assert min(history["SWA"]) < min(history["Validation"])
    used = ensembles.load_ensemble(trained, builder).models[0]
    assert used.evaluate(member.callback(SWA).by) == pytest.approx(min(history["SWA"]), rel=1e-6)
    assert _max_difference(used.get_weights(), member.recorder.last_weights) > 1e-4


# --- snapshot and fast geometric ensembles ---------------------------------------------------------------------

@pytest.mark.parametrize(("number", "power", "cycles"), [("7", -1, 6), ("8", 0, 18)])
def test_snapshot_ensembles_hold_the_states_lumin_0_5_1_loaded(notebook_run: Any, number: str, power: int,
                                                                cycles: int) -> None:
    """Per member the best state and the cycle ends before the best cycle, counted from 1 as 0.5.1 numbered them; in
    quick mode (no early stopping) the best cycle is the last. SSE: 36 sub-epochs in cycles of 6, n_cycles 4; FGE:
    cycles of 2, n_cycles 8."""
    namespace = notebook_run(number)
    ensemble, trained = namespace["ensemble"], namespace["trained"]
    n_back = {"7": 4, "8": 8}[number]
    per_member = 1 + n_back
    n_members = len(trained.members)
    assert all(len(m.cycle_losses) == cycles for m in trained.members)
    assert len(ensemble.models) == per_member * n_members
    loaded = namespace["run"].config["ensemble"]["loaded"]
    for k in range(n_members):
        states = [c for _, c in loaded[k * per_member:(k + 1) * per_member]]
        assert states == [None, *range(cycles - 1, cycles - 1 - n_back, -1)]  # never the best cycle twice
    weights = np.asarray(ensemble.weights).reshape(n_members, per_member)
    expected = np.array([1.0] + [(n + 2.0) ** power for n in range(per_member - 1)])
    for row in weights:
        np.testing.assert_allclose(row / row[0], expected, rtol=1e-9)
    assert weights.sum() == pytest.approx(1)
    states = [m.get_weights() for m in ensemble.models[:per_member]]
    assert all(_max_difference(states[i], states[j]) > 0 for i in range(per_member) for j in range(i))
    assert namespace["run"].config["ensemble"]["kind"] == "snapshot"


# --- bodies ----------------------------------------------------------------------------------------------------

def _linear_inputs(module: torch.nn.Module) -> list[int]:
    return [m.in_features for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _layer_inputs(model_builder: Any) -> list[int]:
    from lumin.nn.models.model import Model

    return _linear_inputs(Model(model_builder).body)


@pytest.mark.parametrize(("number", "width"), [("13", 33), ("21", 100)])
def test_dense_bodies_feed_every_layer_all_earlier_outputs(notebook_run: Any, number: str, width: int) -> None:
    sizes = _layer_inputs(notebook_run(number, until="model_builder =")["model_builder"])
    assert np.all(np.diff(sizes) == width), sizes


def test_plain_bodies_keep_their_width(notebook_run: Any) -> None:
    sizes = _layer_inputs(notebook_run("12", until="model_builder =")["model_builder"])
    assert sizes[1:] == [100, 100, 100]


def _block_features(model: Any, masks: list[list[int]]) -> list[set[str]]:
    """Feature names reaching each block, from the head's map of features to its outputs."""
    owner = {i: f for f, idxs in model.head.feat_map.items() for i in idxs}
    return [{owner[i] for i in mask} for mask in masks]


@pytest.mark.parametrize("number", ["14", "15", "16"])
def test_split_and_wide_deep_bodies_route_the_features_as_described(notebook_run: Any, number: str) -> None:
    from lumin.nn.models.model import Model

    namespace = notebook_run(number, until="model_builder =")
    feats = namespace["train_fy"].cont_feats + namespace["train_fy"].cat_feats
    der, pri = set(bodies.der_features(feats)), set(bodies.pri_features(feats))
    assert len(der) == 13 and "PRI_jet_num" in pri and der | pri == set(feats)
    model = Model(namespace["model_builder"])
    first, second = _block_features(model, model.body.masks)
    assert first == der
    assert second == (set(feats) if number == "16" else pri)
    if number == "15":
        assert _block_features(model, model.body.bottleneck_masks) == [pri, der]
        assert _linear_inputs(model.body.blocks[0])[0] == 13 + 1  # its features plus the bottleneck
    else:
        assert model.body.bottleneck_sz == 0


# --- data: orientation fixing and test-time augmentation -------------------------------------------------------

def test_orientation_fixing_is_applied_at_import(notebook_run: Any) -> None:
    namespace = notebook_run("3", until="train_fy =")
    options = namespace["run"].prepared.options
    assert options["rotate"] and options["flip_y"] and options["flip_z"]
    assert "PRI_lep_py" not in namespace["train_fy"].cont_feats  # zero for every event once rotated


def _eight_copies(inputs: np.ndarray, feats: list[str]) -> list[np.ndarray]:
    """The study's test-time copies, computed here: rotations by 0 and pi in phi, each with and without y and z
    reflections of every momentum."""
    idx = {f: i for i, f in enumerate(feats)}
    vectors = [f[:-3] for f in feats if f.endswith("_px")]
    copies = []
    for flip_z in (False, True):
        for flip_y in (False, True):
            for angle in (0.0, np.pi):
                x = inputs.copy()
                for v in vectors:
                    px, py = inputs[:, idx[f"{v}_px"]], inputs[:, idx[f"{v}_py"]]
                    x[:, idx[f"{v}_px"]] = px * np.cos(angle) - py * np.sin(angle)
                    x[:, idx[f"{v}_py"]] = py * np.cos(angle) + px * np.sin(angle)
                    if flip_y:
                        x[:, idx[f"{v}_py"]] *= -1
                    if flip_z and f"{v}_pz" in idx:
                        x[:, idx[f"{v}_pz"]] *= -1
                copies.append(np.nan_to_num(x))
    return copies


def test_test_time_predictions_are_the_mean_over_eight_transformed_copies(notebook_run: Any, tmp_path: Path) -> None:
    from modules.folds import fold_table, fold_yielder

    namespace = notebook_run("13")
    ensemble, prepared = namespace["ensemble"], namespace["run"].prepared
    table, _ = evaluation.predict(ensemble, prepared.val, tta=True, workdir=tmp_path)
    fy = fold_yielder(prepared.val, augment=False)
    stored = fold_table(fy, inputs=True)
    feats = fy.cont_feats + fy.cat_feats
    fy.close()
    inputs = stored[feats].to_numpy(np.float32)
    mean = np.mean([ensemble.predict(x, verbose=False).ravel() for x in _eight_copies(inputs, feats)], axis=0)
    plain = ensemble.predict(np.nan_to_num(inputs), verbose=False).ravel()
    np.testing.assert_allclose(table.pred.to_numpy(), mean, atol=1e-6)
    assert np.abs(table.pred.to_numpy() - plain).max() > 1e-4, "the copies do change the predictions"


@pytest.mark.parametrize(("number", "shared_signs"), [("13", True), ("4", True), ("7", True), ("14", False)])
def test_vectorised_test_time_augmentation_equals_lumins(notebook_run: Any, tmp_path: Path, number: str,
                                                         shared_signs: bool) -> None:
    """The dense Swish body (13), the plain ReLU body (4) and a snapshot ensemble's states (7) run the shared-sign
    way; the split body (14) runs LUMIN's own network on the 8 copies. Either way the predictions are LUMIN's."""
    from modules import tta
    from modules.folds import fold_yielder

    namespace = notebook_run(number)
    ensemble, prepared = namespace["ensemble"], namespace["run"].prepared
    fy = fold_yielder(prepared.val, augment=False)
    feats, n_cont = fy.cont_feats + fy.cat_feats, len(fy.cont_feats)
    fy.close()
    _, members = tta._plan([model.model for model in ensemble.models], feats, n_cont)
    assert all(isinstance(m, tta.SignedMember) for m in members) == shared_signs
    for foldfile in (prepared.val, prepared.test):
        lumin, _ = evaluation.predict(ensemble, foldfile, tta=True, workdir=tmp_path)
        fast, _ = tta.predict(ensemble, foldfile)
        assert list(fast.columns) == list(lumin.columns) and len(fast) == len(lumin)
        np.testing.assert_allclose(fast.pred.to_numpy(), lumin.pred.to_numpy(), atol=1e-6, rtol=0)
        assert (fast.fold.to_numpy() == lumin.fold.to_numpy()).all()
        assert (fast.gen_weight.to_numpy() == lumin.gen_weight.to_numpy()).all()
