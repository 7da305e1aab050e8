"""Every experiment notebook the runner finds, executed headless in quick mode through `higgsml run`, writes a complete
results JSON that says what was trained; notebook 13 also on real rows, and its executed copy shows no deprecation
warning; a failing cell is reported by name. Notebook 13's run is in README's test command (marker `core`)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules import runner
from modules.errors import UserError

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

METRICS = ["train_time", "val_time", "val_ams_max", "val_ams_smooth", "val_cut", "test_time", "test_public_ams",
           "test_private_ams", "test_public_ams_mean", "test_private_ams_mean"]
EXPERIMENTS = runner.experiments()
FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"


@pytest.fixture(scope="module")
def shared_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One data and results folder for all runs, so the simulated file is made once and prepared folds are reused."""
    root = tmp_path_factory.mktemp("notebooks")
    return {"HIGGSML_DATA_DIR": str(root / "data"), "HIGGSML_RESULTS_DIR": str(root / "results"),
            "HIGGSML_WEIGHTS_DIR": str(root / "weights")}


def higgsml_run(env_dirs: dict[str, str], experiment: str, *args: str,
                threads: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_dirs, "MPLBACKEND": "Agg", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    return subprocess.run([sys.executable, "-m", "modules.cli", "run", experiment, "--machine", "local", "--quick",
                           *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def final_model_run(shared_dirs: dict[str, str]) -> subprocess.CompletedProcess:
    """Notebook 13's quick run, made once for the record test and the warning test."""
    return higgsml_run(shared_dirs, FINAL)


@pytest.fixture(scope="module")
def quick_runs(shared_dirs: dict[str, str], final_model_run: subprocess.CompletedProcess) -> Iterator[dict]:
    """Every other notebook's quick run, started two at a time with one torch thread each once notebook 13's run has
    made the shared data: a quick run spends most of its time starting Python and a kernel, on one core."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {name: pool.submit(higgsml_run, shared_dirs, name, threads=1) for name in EXPERIMENTS if name != FINAL}
        yield runs
        for run in runs.values():
            run.cancel()


def expected_metrics(tta: bool) -> list[str]:
    return METRICS + [f"{m}_no_tta" for m in METRICS if m != "train_time"] if tta else METRICS


def check_metrics(results: dict, tta: bool) -> None:
    names = expected_metrics(tta)
    missing = [m for m in names if m not in results]
    assert not missing, f"missing metrics: {missing}"
    for name in names:
        value = results[name][0] if "_mean" in name else results[name]
        assert math.isfinite(value), name
        assert value > 0 if "time" in name else value >= 0, name


@pytest.mark.core
def test_the_runner_finds_every_experiment_of_the_study() -> None:
    numbers = [runner.number(name) for name in EXPERIMENTS]
    assert set(range(17)) <= set(numbers) and set(range(18, 23)) <= set(numbers)
    assert numbers == sorted(numbers)


@pytest.mark.core
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_notebook_is_committed_clean_and_states_its_paper_id(name: str) -> None:
    notebook = json.loads(EXPERIMENTS[name].read_text())
    info = notebook["metadata"]["higgsml"]
    header = "".join(notebook["cells"][0]["source"])
    if info.get("beyond_paper"):  # an experiment the paper did not run says so, and quotes no paper numbers
        assert not info["paper_id"] and "(not in the paper)" in header.splitlines()[0]
        assert "Beyond the paper" in header and "Published result" not in header
    else:
        assert f"Paper ID {info['paper_id']} (`{info['paper_name']}`" in header
    assert "SIMULATED" in header or "simulated" in header
    if info["compare_to"]:
        assert info["compare_to"] in EXPERIMENTS, "compared to an experiment that does not exist"
        assert f"`{info['compare_to']}`" in header
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "committed without outputs"
    assert "parameters" in code[0]["metadata"]["tags"]
    assert not any("NAME =" in "".join(c["source"]) for c in code), "the experiment's name comes from its folder"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.core) if n == FINAL else n for n in EXPERIMENTS])
def test_quick_run_writes_a_complete_record(name: str, shared_dirs: dict[str, str],
                                            request: pytest.FixtureRequest) -> None:
    done = request.getfixturevalue("final_model_run") if name == FINAL else request.getfixturevalue(
        "quick_runs")[name].result()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SIMULATED" in done.stdout and "test_public_ams" in done.stdout
    record = json.loads((Path(shared_dirs["HIGGSML_RESULTS_DIR"]) / "quick" / f"{name}_local.json").read_text())
    assert record["exp_name"] == name and record["machine"] == "local" and record["dataset"]["simulated"] is True
    config = record["config"]
    if "search" in config:  # experiment 17: the record summarises the trials saved one by one
        results = record["results"]
        assert results["n_trials"] == 3 and math.isfinite(results["best_val_ams_smooth"])
        trials = list((Path(shared_dirs["HIGGSML_RESULTS_DIR"]) / "quick" / "search" / name).glob("local_*.json"))
        assert len(trials) == 3 and config["model"]["body"]["dense"] is True
        return
    check_metrics(record["results"], config["test_time_augmentation"])

    model, train, prepare = config["model"], config["training"], config["prepare"]
    assert model["n_parameters"] > 1000 and model["opt"] == "Adam" and model["opt_args"]["eps"] == 1e-8
    assert model["body"]["class"] in ("FullyConnected", "MultiBlock")
    assert (model["cat_embedder"] is not None) == bool(prepare["cat_feats"])
    if model["cat_embedder"]:
        assert model["cat_embedder"] == {"features": ["PRI_jet_num"], "cardinalities": [4], "emb_szs": [3]}
    assert train["engine"] == "batched" and train["seed"] == 2020  # the default engine trains every experiment
    assert train["n_models"] == len(train["sub_epochs_trained"]) and train["sub_epochs_per_epoch"] == 9
    assert all(1 <= e <= 9 * train["n_epochs"] for e in train["sub_epochs_trained"])
    assert config["ensemble"]["states"] >= train["n_models"]
    assert math.isclose(sum(config["ensemble"]["weights"]), 1, abs_tol=1e-4)
    assert prepare["seed"] == 2020 and prepare["max_events"] == 4000


@pytest.mark.core
def test_the_executed_final_model_shows_no_future_or_deprecation_warning(
        final_model_run: subprocess.CompletedProcess) -> None:
    """pandas 2.2 warned 820 times from LUMIN's test-time rotation (mend 7), and numpy 2 or Python 3.13 bring their
    own notes: no FutureWarning or DeprecationWarning may reach the executed copy a user opens, nor the terminal."""
    assert final_model_run.returncode == 0, final_model_run.stdout[-3000:] + final_model_run.stderr[-3000:]
    executed = runner.executed_path(EXPERIMENTS[FINAL], "local", quick=True)
    notebook = json.loads(executed.read_text())
    assert executed.stat().st_mtime > time.time() - 3600
    shown = [json.dumps(output) for cell in notebook["cells"] for output in cell.get("outputs", [])]
    assert len(shown) > 3 and any("test_public_ams" in text for text in shown)
    warned = [text[:300] for text in shown + [final_model_run.stdout, final_model_run.stderr]
              if any(kind in text for kind in ("FutureWarning", "DeprecationWarning", "SyntaxWarning"))]
    assert not warned, warned


def test_quick_run_of_the_final_model_on_real_training_rows(real_excerpt: Path, tmp_path: Path) -> None:
    df = pd.read_csv(real_excerpt, dtype={"Label": str, "KaggleSet": str})
    rng = np.random.default_rng(0)
    test_rows = rng.choice(len(df), 400, replace=False)
    df.loc[test_rows, "KaggleSet"] = np.where(np.arange(400) % 2 == 0, "b", "v")
    path = tmp_path / "real-t-plus-few-bv.csv.gz"
    df.to_csv(path, index=False, float_format="%.6g")

    dirs = {"HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "results")}
    done = higgsml_run(dirs, "13", "--dataset", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads((tmp_path / "results" / "quick" /
                         "13_swish_ensemble_embed_aug_onecycle_dense_local.json").read_text())
    check_metrics(record["results"], tta=True)
    assert record["dataset"]["simulated"] is False
    rows = record["dataset"]["rows"]
    assert rows["test_set_b"] == 200 and rows["test_set_v"] == 200 and rows["train_set_t"] == 9600
    assert rows["train_label_s"] + rows["train_label_b"] == 9600
    assert record["dataset"]["files"][0]["file"] == path.name


def test_a_missing_dataset_is_one_line_and_a_failing_cell_is_shown(tmp_path: Path) -> None:
    dirs = {"HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "r")}
    done = higgsml_run(dirs, "13", "--dataset", str(tmp_path / "does-not-exist.csv"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "does-not-exist.csv" in done.stderr and "Traceback" not in done.stderr

    notebooks = tmp_path / "notebooks" / "5_broken"
    notebooks.mkdir(parents=True)
    broken = json.loads(EXPERIMENTS["13_swish_ensemble_embed_aug_onecycle_dense"].read_text())
    broken["cells"][2]["source"] = ["1 / 0  # an unexpected error in the notebook's own code"]
    (notebooks / "5_broken.ipynb").write_text(json.dumps(broken))
    output = notebooks / "5_broken_local_quick.ipynb"
    with pytest.raises(UserError) as err:
        runner.execute(notebooks / "5_broken.ipynb", output, {"QUICK": True})
    assert "failed with ZeroDivisionError: division by zero" in str(err.value) and str(output) in str(err.value)
