"""Ensemble members as tasks on Dask: a two-worker local cluster, and a scheduler and worker started as separate
processes and reached by address, both train the members sequential training makes (each member is seeded on its
own from the run's seed and its index)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from quick_models import final_model, quick_train_folds

from modules import cluster, training

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train_fy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from quick_train_folds(tmp_path_factory.mktemp("cluster"), seed=9)


builder = final_model


def same_members(a: training.Training, b: training.Training) -> None:
    assert [m.index for m in a.members] == [m.index for m in b.members]
    for x, y in zip(a.members, b.members, strict=True):
        assert x.result["loss"] == pytest.approx(y.result["loss"], abs=1e-6)
        wx = torch.load(Path(x.result["path"]) / f"train_{x.index}.h5", weights_only=False)["model"]
        wy = torch.load(Path(y.result["path"]) / f"train_{y.index}.h5", weights_only=False)["model"]
        assert all(torch.allclose(wx[k], wy[k], atol=1e-6) for k in wx)


@pytest.fixture(scope="module")
def sequential(train_fy: Any, tmp_path_factory: pytest.TempPathFactory) -> training.Training:
    torch.set_num_threads(1)  # as each worker runs
    return training.train_ensemble(train_fy, builder(train_fy), 3, 2, tmp_path_factory.mktemp("seq"), seed=7)


@pytest.mark.core
def test_a_two_worker_local_cluster_trains_the_same_members(train_fy: Any, sequential: training.Training,
                                                             tmp_path: Path) -> None:
    client = cluster.connect("local", workers=2)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        parallel = training.train_ensemble(train_fy, builder(train_fy), 3, 2, tmp_path, seed=7, client=client)
    finally:
        client.close()
        client.cluster.close()
    same_members(parallel, sequential)
    assert parallel.config["workers"] == 2 and parallel.config["reused_members"] == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_and_a_worker_started_apart_are_reached_by_address(train_fy: Any,
                                                                        sequential: training.Training,
                                                                        tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli"]
    scheduler = subprocess.Popen([*dask[:2], "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--dashboard-address", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([*dask[:2], "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        deadline = time.time() + 120
        client = None
        while client is None and time.time() < deadline:
            try:
                client = cluster.connect(address)
            except OSError:
                time.sleep(1)
        assert client is not None, "the scheduler answered"
        while not client.scheduler_info()["workers"] and time.time() < deadline:
            time.sleep(0.5)
        assert len(client.scheduler_info()["workers"]) == 1
        remote = training.train_ensemble(train_fy, builder(train_fy), 3, 2, tmp_path, seed=7, client=client)
        same_members(remote, sequential)
        client.shutdown()  # stops the scheduler and its worker
        client.close()
        assert scheduler.wait(timeout=60) is not None and worker.wait(timeout=60) is not None
    finally:
        for process in (worker, scheduler):
            if process.poll() is None:
                process.kill()
                process.wait()
