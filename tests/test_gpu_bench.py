"""The GPU benchmark script runs in quick mode on the CPU (CI has no GPU): every stage, its JSON record and log,
the checks agreeing exactly (the 'device' is the CPU too), and nothing written into the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules import paths


@pytest.mark.slow
def test_the_gpu_benchmark_runs_quick_on_the_cpu(tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime for p in paths.RESULTS_DIR.rglob("*.json")}
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "GPU_BENCH_INSTALL": "0",
           "GPU_BENCH_DEVICE": "cpu", "GPU_BENCH_ARGS": "--threads 1", "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "benchmarks/gpu_bench.sh", "--quick"], capture_output=True, text=True, env=env,
                          timeout=600, cwd=paths.PROJECT_ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "gpu_bench.json").read_text())
    assert record["errors"] == {} and record["skipped"] == {}
    stages = record["stages"]
    assert set(stages) == {"data", "warmup", "train", "tta", "tta_cpu", "lumin", "train_cpu", "train_cpu_full"}
    assert record["device"]["device"] == "cpu" and record["mode"] == "quick"
    assert stages["train"]["seconds"] > 0 and stages["train"]["sub_epochs_trained"] == [2 * 9, 2 * 9]
    assert stages["tta"]["test_events"] > 0 and "test_public_ams" in stages["tta"]
    assert stages["tta_cpu"]["max_abs_diff_test"] == 0.0  # the same code on the same device
    assert stages["train_cpu"]["largest_relative_loss_difference"] == 0.0
    assert stages["train_cpu_full"]["largest_relative_best_loss_difference"] == 0.0
    assert stages["train_cpu_full"]["tta_on_device"]["max_abs_diff_test_vs_device_ensemble"] == 0.0
    assert stages["lumin"]["largest_relative_loss_difference"] < 1e-5  # LUMIN's own training of member 0
    log = (tmp_path / "out" / "gpu_bench.log").read_text()
    assert "== train:" in log and "exit status 0" in log
    assert {p: p.stat().st_mtime for p in paths.RESULTS_DIR.rglob("*.json")} == before
