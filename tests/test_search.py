"""The hyper-parameter search (experiment 17): trials saved one by one, a killed search resumed without losing or
repeating a trial, machines searching into one folder at once, Gaussian-process proposals inside the space, and the
analysis notebook on the trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from modules import paths
from modules.errors import UserError
from modules.search import propose, space
from modules.search.trials import TrialStore

pytestmark = pytest.mark.slow
NAME = "17_hyperparam_search"


def search_command(machine: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "modules.cli", "search", "--quick", "--machine", machine, *args]


def environment(dirs: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **dirs, "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("search")
    return {"HIGGSML_DATA_DIR": str(root / "data"), "HIGGSML_RESULTS_DIR": str(root / "results")}


def trials_of(dirs: dict[str, str]) -> list[dict]:
    return TrialStore(Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / "search" / NAME).load()[0]


@pytest.mark.core
def test_a_three_trial_search_writes_three_trials_and_a_summary(dirs: dict[str, str]) -> None:
    done = subprocess.run(search_command("local", "--trials", "3"), capture_output=True, text=True,
                          env=environment(dirs), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = trials_of(dirs)
    assert sorted((t["machine"], t["index"]) for t in trials) == [("local", 0), ("local", 1), ("local", 2)]
    for trial in trials:
        assert space.PARAMETERS[0] <= trial["n_parameters"] <= space.PARAMETERS[1]
        assert np.isfinite(trial["scores"]["val_ams_smooth"]) and len(trial["scores"]["test_public_ams_mean"]) == 2
        assert not any("private" in k for k in trial["scores"]), "the search never looks at private scores"
        assert trial["dataset"]["simulated"] is True and trial["proposer"] == "random"
    summary = json.loads((Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / f"{NAME}_local.json").read_text())
    best = max(trials, key=lambda t: t["scores"]["val_ams_smooth"])
    assert summary["results"]["best_index"] == best["index"] and summary["results"]["n_trials"] == 3
    # a rerun has nothing left to do and changes no trial
    stamps = {t["index"]: t["finished"] for t in trials}
    again = subprocess.run(search_command("local", "--trials", "3"), capture_output=True, text=True,
                           env=environment(dirs), timeout=900)
    assert again.returncode == 0 and "3 of 3 trials of machine local already done" in again.stdout
    assert {t["index"]: t["finished"] for t in trials_of(dirs)} == stamps


def test_a_search_killed_during_its_second_trial_resumes_without_loss_or_duplicate(dirs: dict[str, str]) -> None:
    folder = Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / "search" / NAME
    # LUMIN's loop, so that a trial lasts long enough to be killed in (a batched quick trial takes under a second)
    process = subprocess.Popen(search_command("epyc2", "--trials", "3", "--engine", "lumin"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=environment(dirs))
    first = folder / "epyc2_000.json"
    deadline = time.time() + 600
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert first.exists(), "the first trial finished"
    for line in process.stdout:  # wait until the second trial is under way, then kill the search
        if "trial 2/3" in line:
            time.sleep(1.0)
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = {t["index"] for t in trials_of(dirs) if t["machine"] == "epyc2"}
    assert killed == {0}, "only the finished trial is on disk"
    first_stamp = json.loads(first.read_text())["finished"]
    assert not list(folder.glob(".epyc2_*")), "no half-written trial is left behind"

    done = subprocess.run(search_command("epyc2", "--trials", "3", "--engine", "lumin"), capture_output=True,
                          text=True, env=environment(dirs), timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 of 3 trials of machine epyc2 already done" in done.stdout
    indices = sorted(t["index"] for t in trials_of(dirs) if t["machine"] == "epyc2")
    assert indices == [0, 1, 2]
    assert json.loads(first.read_text())["finished"] == first_stamp, "the finished trial was not redone"


def test_two_machines_search_into_one_folder_at_once_and_keep_every_trial(dirs: dict[str, str]) -> None:
    machines = ("mbp", "daedalus")
    processes = [subprocess.Popen(search_command(m, "--trials", "2"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=environment(dirs)) for m in machines]
    for process in processes:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-2000:]
    trials, skipped = TrialStore(Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / "search" / NAME).load()
    assert not skipped
    for machine in machines:
        assert sorted(t["index"] for t in trials if t["machine"] == machine) == [0, 1]


def processes_with(variable: str, value: str) -> list[int]:
    """Processes (other than this one) whose environment has `variable` = `value`: what a run started and left."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(variable) == value:
                found.append(process.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_a_search_on_a_local_cluster_connects_once_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    mark = str(tmp_path / "results")
    dirs = {"HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": mark,
            "HIGGSML_WEIGHTS_DIR": str(tmp_path / "weights")}
    done = subprocess.run(search_command("local", "--trials", "3", "--scheduler", "local"), capture_output=True,
                          text=True, env=environment(dirs), timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("Dask: ") == 1, "one cluster for the whole search, not one per trial"
    assert "(on a worker)" in done.stdout
    assert len(TrialStore(Path(mark) / "quick" / "search" / NAME).load()[0]) == 3
    deadline = time.time() + 30
    while processes_with("HIGGSML_RESULTS_DIR", mark) and time.time() < deadline:
        time.sleep(0.5)
    assert processes_with("HIGGSML_RESULTS_DIR", mark) == [], "the search closed its cluster's workers"


def test_a_second_search_for_the_same_machine_is_refused(tmp_path: Path) -> None:
    store = TrialStore(tmp_path)
    with store.lock("mbp"):
        with pytest.raises(UserError, match="another search for machine mbp into .* is already running"):
            with store.lock("mbp"):
                pass
        with store.lock("helios_cpu"):  # another machine may search at the same time
            pass
    with store.lock("mbp"):  # released
        pass


def test_gaussian_process_proposals_stay_inside_the_space() -> None:
    rng = np.random.default_rng(3)
    trials = []
    for i in range(8):
        params = space.random_params(rng)
        score = 3.5 + 0.1 * params.depth / 8 - 0.2 * params.dropout + 0.01 * rng.normal()
        trials.append({"machine": "m", "index": i, "params": params.as_dict(), "scores": {"val_ams_smooth": score}})
    seen = set()
    for index in range(8, 12):
        params = propose.gp_proposal(trials, seed=1, index=index, acceptable=lambda p: True)
        assert space.DEPTHS[0] <= params.depth <= space.DEPTHS[1]
        assert space.WIDTHS[0] <= params.width <= space.WIDTHS[1]
        assert space.GROWTH_RATES[0] <= params.growth_rate <= space.GROWTH_RATES[1]
        assert params.weight_decay in space.WEIGHT_DECAYS and params.dropout in space.DROPOUTS
        seen.add(params)
    assert len(seen) > 1, "different indices ask for different points"
    small = propose.gp_proposal(trials, seed=1, index=20, acceptable=lambda p: p.depth <= 3)
    assert small.depth <= 3, "only acceptable architectures are proposed"
    assert propose.random_proposal(5, 7, lambda p: True) == propose.random_proposal(5, 7, lambda p: True)


@pytest.mark.notebook
def test_the_analysis_notebook_runs_on_the_quick_trials(dirs: dict[str, str], tmp_path: Path) -> None:
    if len(trials_of(dirs)) < 3:
        pytest.skip("needs the trials of the tests above")
    notebook = paths.NOTEBOOKS_DIR / "17_hyperparam_search" / "Analysis.ipynb"
    folder = Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / "search" / NAME
    out = tmp_path / "analysis.ipynb"
    done = subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(out), "-p", "TRIALS", str(folder),
                           "-p", "PLOTS", str(tmp_path / "plots"), "--cwd", str(notebook.parent)],
                          capture_output=True, text=True, timeout=600, env=environment(dirs))
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = "".join(json.dumps(c.get("outputs", [])) for c in json.loads(out.read_text())["cells"])
    assert "GP optimum" in outputs and "most promising by" in outputs
    written = {p.name for p in (tmp_path / "plots").glob("*.png")}
    expected = {"scores_vs_size.png", "gp_val_ams_smooth_objective.png", "gp_test_public_ams_mean_evaluations.png"}
    assert expected <= written
