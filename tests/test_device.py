"""The device plumbing of the batched engine and the vectorised TTA: the rule that picks the device, the CPU giving
the same numbers whether it is asked for or taken by default, and (where torch sees a GPU) CUDA giving the CPU's
numbers to float precision."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from quick_models import final_model, quick_train_folds

from modules.batched.device import DEVICE_ENV, chosen_device, from_host

CUDA = torch.cuda.is_available()


def test_the_cpu_unless_a_device_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert chosen_device() == torch.device("cpu")
    assert chosen_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert chosen_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "auto")
    assert chosen_device() == torch.device("cuda" if CUDA else "cpu")
    assert chosen_device("cpu") == torch.device("cpu"), "an argument wins over the environment"
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="tpu"):
        chosen_device()
    if not CUDA:
        with pytest.raises(ValueError, match="no CUDA GPU"):
            chosen_device("cuda")
    array = np.arange(6, dtype=np.float32)
    assert from_host(array, torch.device("cpu")).data_ptr() == array.ctypes.data  # no copy on the CPU


def test_the_command_line_passes_the_device_to_the_session() -> None:
    import argparse

    from modules.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    assert parser.parse_args(["13", "--device", "cuda"]).device == "cuda"
    assert parser.parse_args(["13"]).device is None


@pytest.fixture(scope="module")
def train_fy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from quick_train_folds(tmp_path_factory.mktemp("device"), seed=17)


def _train(fy: Any, path: Path, monkeypatch: pytest.MonkeyPatch, device: str | None) -> tuple[Any, Any]:
    from lumin.nn.callbacks.cyclic_callbacks import OneCycle

    from modules import training

    if device is None:
        monkeypatch.delenv(DEVICE_ENV, raising=False)
    else:
        monkeypatch.setenv(DEVICE_ENV, device)  # as `higgsml run --device` passes it
    builder = final_model(fy)
    onecycle = partial(OneCycle, lengths=(1, 2), lr_range=[1e-4, 1e-2], mom_range=(0.85, 0.95), interp="cosine")
    trained = training.train_ensemble(fy, builder, 2, 2, path, cb_partials=[onecycle], seed=7, engine="batched")
    return trained, builder


def _weights(trained: Any, builder: Any) -> dict[str, np.ndarray]:
    from modules.models.ensembles import load_ensemble

    ensemble = load_ensemble(trained, builder)
    return {f"{i}.{k}": v.cpu().numpy() for i, m in enumerate(ensemble.models)
            for k, v in m.model.state_dict().items()}


@pytest.mark.slow
def test_the_cpu_asked_for_gives_the_default_numbers_bit_for_bit(train_fy: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from modules import tta
    from modules.models.ensembles import load_ensemble

    torch.set_num_threads(1)
    default, builder = _train(train_fy, tmp_path / "default", monkeypatch, None)
    asked, _ = _train(train_fy, tmp_path / "cpu", monkeypatch, "cpu")
    for a, b in zip(default.members, asked.members, strict=True):
        assert a.history[0]["Validation"] == b.history[0]["Validation"]
        assert a.history[0]["Training"] == b.history[0]["Training"]
    mine, theirs = _weights(default, builder), _weights(asked, builder)
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine)
    ensemble, foldfile = load_ensemble(default, builder), Path(train_fy.foldfile.filename)
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    plain, _ = tta.predict(ensemble, foldfile)
    on_cpu, _ = tta.predict(ensemble, foldfile, device="cpu")
    assert np.array_equal(plain.pred.to_numpy(), on_cpu.pred.to_numpy())


@pytest.mark.slow
@pytest.mark.skipif(not CUDA, reason="torch sees no CUDA GPU")
def test_cuda_gives_the_cpus_numbers_to_float_precision(train_fy: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lumin.nn.models.model import Model

    from modules import tta
    from modules.batched.network import StackedNetwork
    from modules.models.ensembles import load_ensemble

    torch.set_float32_matmul_precision("highest")
    builder = final_model(train_fy)
    models = [Model(builder) for _ in range(3)]
    fold = train_fy.get_fold(0)
    x = torch.tensor(fold["inputs"][:3 * 128].reshape(3, 128, -1), dtype=torch.float32)
    grads = []
    for device in ("cpu", "cuda"):
        net = StackedNetwork([m.model for m in models], device=device)
        logits, cache = net.forward(x.to(device), keep=True)
        net.backward(cache, torch.sigmoid(logits) - 0.5)
        assert net.state_dict(0)["2.dense.bias"].device.type == "cpu"
        grads.append(net.grad.cpu())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)

    on_cpu, _ = _train(train_fy, tmp_path / "cpu", monkeypatch, "cpu")
    on_cuda, _ = _train(train_fy, tmp_path / "cuda", monkeypatch, "cuda")
    for a, b in zip(on_cpu.members, on_cuda.members, strict=True):
        np.testing.assert_allclose(b.history[0]["Validation"], a.history[0]["Validation"], rtol=1e-4)
    ensemble, foldfile = load_ensemble(on_cpu, builder), Path(train_fy.foldfile.filename)
    cpu_pred, _ = tta.predict(ensemble, foldfile, device="cpu")
    cuda_pred, _ = tta.predict(ensemble, foldfile, device="cuda")
    np.testing.assert_allclose(cuda_pred.pred.to_numpy(), cpu_pred.pred.to_numpy(), atol=1e-6, rtol=0)
