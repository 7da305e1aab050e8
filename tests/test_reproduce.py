"""`higgsml reproduce`: the paper's split seeds on this machine's hardware, records named for both, the pairs chosen,
a killed reproduction resumed without running anything twice, and the same reproduction on a two-worker Dask
cluster giving identical records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_reliability import kill_tree, scores

from modules import paths, record, reproduce
from modules.errors import UserError
from modules.experiment import Experiment, run_label

FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"
PAIRS = ["0_relu_baseline", "19_baseline_swish"]
"""Two of the cheapest experiments in quick mode (one member each) that share their prepared data per seed; 19 adds
Swish to 0, so the report compares them."""
SEEDS = ["mbp", "icarus"]
QUICK = ["reproduce", "--machine", "local", "--only", "0,19", "--seeds", ",".join(SEEDS), "--quick"]


def test_a_run_with_another_machines_seed_is_named_for_both_and_records_both(tmp_path: Path) -> None:
    assert run_label(FINAL, "epyc2", "mbp") == f"{FINAL}_epyc2_seed-mbp"
    assert run_label(FINAL, "epyc2", "epyc2") == run_label(FINAL, "epyc2") == f"{FINAL}_epyc2"
    exp = Experiment(FINAL, "epyc2", results_dir=tmp_path, split_of="mbp")
    assert (exp.machine, exp.seed, exp.path.name) == ("epyc2", 3333, f"{FINAL}_epyc2_seed-mbp.json")
    exp.run = record.RunSpec(FINAL, "epyc2", True, "simulated", "batched", None, "cpu", "mbp")
    back = record.read(exp.save())
    assert (back.machine, back.seed, back.run.split_of, back.hardware) == ("epyc2", 3333, "mbp", exp.hardware)
    assert Experiment.from_json(exp.path).split_of == "mbp"


def test_the_default_pairs_are_the_papers_experiments_under_its_six_seeds() -> None:
    chosen = reproduce.choose_experiments()
    assert [int(name.split("_")[0]) for name in chosen] == [*range(17), *range(18, 23)]
    assert reproduce.choose_experiments(beyond_paper=True)[-1].startswith("23_")
    assert reproduce.choose_experiments("13, 0,13") == [FINAL, "0_relu_baseline"]
    plan = reproduce.make_plan("epyc2", chosen)
    assert len(plan.pairs) == 22 * 6 and plan.pairs[0] == reproduce.Pair("0_relu_baseline", "helios_cuda", 1111)
    assert [p.seed for p in plan.pairs[::22]] == [1111, 2222, 3333, 4444, 1337, 5555]
    assert plan.record_path(plan.pairs[22]).name == "0_relu_baseline_epyc2_seed-helios_cpu.json"


@pytest.mark.parametrize(("call", "words"), [
    (lambda: reproduce.make_plan("mbp", ["0_relu_baseline"]), "one of the paper's machines"),
    (lambda: reproduce.make_plan("epyc2", ["0_relu_baseline"], ["mbp", "nowhere"]), "unknown machine nowhere"),
    (lambda: reproduce.choose_experiments("17"), "takes no SPLIT_OF"),
])
def test_what_would_mislead_or_cannot_run_is_refused_in_one_line(call, words: str) -> None:
    with pytest.raises(UserError, match=words):
        call()


def test_workers_without_a_local_cluster_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from modules.cli import main

    assert main(["reproduce", "--workers", "2", "--quick"]) == 2
    assert "--workers sizes a local Dask cluster" in capsys.readouterr().err


# --- the quick reproduction, end to end --------------------------------------------------------------------------

def environment(root: Path) -> dict[str, str]:
    """The test's folders, and a scheduler set by hand for `higgsml run` that no pair may follow (nothing listens
    there: a pair that followed it would fail)."""
    return {**os.environ, "MPLBACKEND": "Agg", "HIGGSML_DATA_DIR": str(root.parent / "data"),
            "HIGGSML_RESULTS_DIR": str(root / "results"), "HIGGSML_WEIGHTS_DIR": str(root / "weights"),
            "HIGGSML_SCHEDULER": "tcp://127.0.0.1:9"}


def records(root: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((root / "results" / "quick").glob("*.json"))}


def higgsml(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modules.cli", *args], capture_output=True, text=True,
                          env=environment(root), cwd=paths.PROJECT_ROOT, timeout=900)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict], str]:
    """A quick reproduction killed once its first record is written, then run again: its folder, the first record
    as it was at the kill, and the second run's output."""
    root = tmp_path_factory.mktemp("reproduce") / "here"
    process = subprocess.Popen([sys.executable, "-m", "modules.cli", *QUICK], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment(root), cwd=paths.PROJECT_ROOT)
    deadline = time.time() + 600
    while not records(root) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    kill_tree(process)
    first = records(root)
    done = higgsml(root, *QUICK)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return root, first, done.stdout


@pytest.mark.slow  # minutes: five quick notebook runs
@pytest.mark.notebook
def test_a_killed_quick_reproduction_finishes_what_is_missing_and_runs_nothing_twice(resumed) -> None:
    root, first, output = resumed
    assert len(first) == 1, "killed after the first record"
    found = records(root)
    expected = {f"{run_label(name, 'local', seed)}.json" for seed in SEEDS for name in PAIRS}
    assert set(found) == expected
    (kept,) = first
    assert found[kept] == first[kept]  # kept as it was, not run again
    assert f"kept {kept}" in output and output.count("] running ") == 3 and "4 of 4 pairs recorded" in output
    for name, data in found.items():
        seed_of = name.removesuffix(".json").rsplit("_seed-", 1)[1]
        assert (data["machine"], data["run"]["split_of"], data["seed"]) == ("local", seed_of, {"mbp": 3333,
                                                                                             "icarus": 1337}[seed_of])
        assert data["config"]["quick"] and data["config"]["training"]["engine"] == "batched"
        assert data["dataset"]["simulated"] and scores(data)["val_ams_max"] > 0
    report = (root / "results" / "quick" / "report.md").read_text()
    assert "findings reproduced" in report and "Quick mode" in report and "SIMULATED" in report
    assert "| 19 | baseline +Swish | 0 | 2 paired |" in report and "private AMS" not in report
    assert (root / "results" / "quick" / "report").glob("*_findings.png")


@pytest.mark.slow  # minutes: four quick notebook runs, two at a time
@pytest.mark.notebook
def test_the_same_quick_reproduction_on_a_two_worker_dask_cluster_gives_identical_records(resumed) -> None:
    here, _, _ = resumed
    root = here.with_name("dask")
    done = higgsml(root, *QUICK, "--scheduler", "local", "--workers", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Dask: 2 workers" in done.stdout and done.stdout.count(" done] finished: ") == 4
    on_dask, in_turn = records(root), records(here)
    assert set(on_dask) == set(in_turn)
    for name in in_turn:
        assert scores(on_dask[name]) == scores(in_turn[name]), name
        assert on_dask[name]["seed"] == in_turn[name]["seed"]
