"""Notebook 13 (the final model) executed headless through `higgsml run`, in quick mode, on simulated and real rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

METRICS = [
    "train_time", "val_time", "val_ams_max", "val_ams_smooth", "val_time_no_tta", "val_ams_max_no_tta",
    "val_ams_smooth_no_tta", "test_time", "test_public_ams", "test_private_ams", "test_public_ams_mean",
    "test_private_ams_mean", "test_time_no_tta", "test_public_ams_no_tta", "test_private_ams_no_tta",
    "test_public_ams_mean_no_tta", "test_private_ams_mean_no_tta",
]


def higgsml_run(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp / "data"), "HIGGSML_RESULTS_DIR": str(tmp / "results")}
    done = subprocess.run([sys.executable, "-m", "modules.cli", "run", "13", "--machine", "local", "--quick", *args],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = tmp / "results" / "quick" / "13_swish_ensemble_embed_aug_onecycle_dense_local.json"
    return done, json.loads(result.read_text())


def check_metrics(results: dict) -> None:
    missing = [m for m in METRICS if m not in results]
    assert not missing, f"missing metrics: {missing}"
    for name in METRICS:
        value = results[name][0] if name.endswith("_mean") or name.endswith("_mean_no_tta") else results[name]
        assert math.isfinite(value), name
        if "time" in name:
            assert value > 0, name
        else:
            assert value >= 0, name


def test_quick_run_on_the_simulated_default(tmp_path: Path) -> None:
    done, record = higgsml_run(tmp_path)
    check_metrics(record["results"])
    assert record["dataset"]["simulated"] is True
    assert "SIMULATED" in done.stdout
    assert record["config"]["quick"] is True and record["config"]["training"]["n_models"] == 2
    assert record["hardware"]["cpu_cores"] >= 1
    assert "test_private_ams" in done.stdout  # the metrics table is printed


def test_quick_run_on_real_training_rows_with_a_few_test_rows(real_excerpt: Path, tmp_path: Path) -> None:
    df = pd.read_csv(real_excerpt, dtype={"Label": str, "KaggleSet": str})
    rng = np.random.default_rng(0)
    test_rows = rng.choice(len(df), 400, replace=False)
    df.loc[test_rows, "KaggleSet"] = np.where(np.arange(400) % 2 == 0, "b", "v")
    path = tmp_path / "real-t-plus-few-bv.csv.gz"
    df.to_csv(path, index=False, float_format="%.6g")

    done, record = higgsml_run(tmp_path, "--dataset", str(path))
    check_metrics(record["results"])
    assert record["dataset"]["simulated"] is False
    rows = record["dataset"]["rows"]
    assert rows["test_set_b"] == 200 and rows["test_set_v"] == 200 and rows["train_set_t"] == 9600
    assert rows["train_label_s"] + rows["train_label_b"] == 9600
    assert record["dataset"]["files"][0]["file"] == path.name


def test_failing_cell_gives_nonzero_exit_naming_the_cell(tmp_path: Path) -> None:
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "r")}
    missing = tmp_path / "does-not-exist.csv"
    done = subprocess.run([sys.executable, "-m", "modules.cli", "run", "13", "--machine", "local", "--quick",
                           "--dataset", str(missing)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode != 0
    assert "failed" in done.stderr and "does-not-exist.csv" in done.stderr
    assert "session.start" in done.stderr  # the failing cell's source is shown
