"""The record schema: what `Experiment.save` writes (schema version, code version, how to repeat the run), the one
reader that converts the committed version-1 records, and damaged records named with what is wrong and skipped by
every reader: the report, the listing, the viewing notebook's Viewer and the search analysis."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules import paths, record
from modules.cli import main
from modules.errors import UserError
from modules.experiment import Experiment
from modules.results.records import load_records, read_record
from modules.results.view import Viewer
from modules.search import analysis

FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"
SIM = {"kind": "simulated", "files": [{"file": "simulated-v5-seed2014-818238.csv", "sha1": "aaaa",
                                       "generator": {"kind": "simulated", "version": 5, "seed": 2014,
                                                     "events": 818238}}]}
COMMITTED = paths.PROJECT_ROOT / "results" / f"{FINAL}_epyc2.json"


def version_1(folder: Path, machine: str, public: float = 3.7) -> Path:
    """A record as written before the schema: no schema_version, code or run."""
    results = {"train_time": 100.0, "val_ams_smooth": public + 0.1, "test_public_ams": public,
               "test_private_ams": public - 0.05, "test_public_ams_mean": [public + 0.01, 0.05]}
    data = {"exp_name": FINAL, "machine": machine, "seed": 1, "description": "", "results": results,
            "config": {"quick": False, "training": {"engine": "batched", "workers": None}}, "dataset": SIM,
            "hardware": {"cpu": "Test CPU", "cpu_cores": 4, "torch_threads": 4, "gpu": None}, "versions": {},
            "started": "2026-11-27T10:00:00+00:00", "finished": "2026-11-27T10:10:00+00:00"}
    path = folder / f"{FINAL}_{machine}.json"
    path.write_text(json.dumps(data))
    return path


def test_a_saved_record_carries_the_schema_and_code_version_and_reads_back(tmp_path: Path) -> None:
    exp = Experiment(FINAL, "mbp", results_dir=tmp_path)
    exp["test_public_ams"] = 3.75
    exp["test_public_ams_mean"] = (3.8, 0.1)
    exp.run = record.RunSpec(FINAL, "mbp", True, "simulated", "batched", None, "cpu")
    data = json.loads(exp.save().read_text())
    assert data["schema_version"] == record.SCHEMA_VERSION == 3
    head = subprocess.run(["git", "-C", str(paths.PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode == 0:
        assert data["code"]["commit"] == head.stdout.strip() and isinstance(data["code"]["dirty"], bool)
    assert data["run"] == {"experiment": FINAL, "machine": "mbp", "quick": True, "dataset": "simulated",
                           "engine": "batched", "scheduler": None, "device": "cpu", "split_of": None}
    back = record.read(exp.path)
    assert back.written_as == 3 and back.results["test_public_ams_mean"] == [3.8, 0.1] and back.run == exp.run
    assert Experiment.from_json(exp.path).run == exp.run


def test_outside_a_git_checkout_the_code_version_is_absent(tmp_path: Path) -> None:
    assert record.code_version(tmp_path) == record.Code(None, None)


def test_a_changed_tracked_file_makes_the_tree_dirty(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "."], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"], **run)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "new.json").write_text("{}")  # a new record is not a change of code
    assert record.code_version(tmp_path) == record.Code(commit, False)
    (tmp_path / "modules" / "a.py").write_text("x = 2\n")
    assert record.code_version(tmp_path) == record.Code(commit, True)


def test_the_committed_version_1_records_read_and_convert_unchanged() -> None:
    if not COMMITTED.exists():
        pytest.skip("no committed record of experiment 13")
    before = COMMITTED.read_bytes()
    found = record.read(COMMITTED)
    assert found.written_as == 1 and found.code == record.Code(None, None)
    assert found.spec() == record.RunSpec(FINAL, "epyc2", False, "simulated", "lumin", None, "cpu")
    assert found.results["test_private_ams_mean"][1] > 0 and found.config["training"]["n_models"] == 10
    assert COMMITTED.read_bytes() == before  # read, never rewritten
    written = found.to_dict()
    assert written["schema_version"] == 3 and record.from_dict(written).results == found.results


def test_every_committed_record_is_readable() -> None:
    folder = paths.PROJECT_ROOT / "results"
    files = sorted(folder.glob("*.json")) + sorted((folder / "history").glob("*.json"))
    for path in files:
        record.read(path)  # raises, naming what is wrong, on a record the schema does not accept
    assert len(files) >= 20 or not files


def test_a_version_1_record_of_a_file_dataset_repeats_on_that_file(tmp_path: Path) -> None:
    data = json.loads(version_1(tmp_path, "a").read_text())
    data["dataset"] = {"kind": "file", "files": [{"file": "mine.csv", "sha1": "cc"}],
                       "description": "dataset: file /data/mine.csv"}
    assert record.spec_of_version_1(record.from_dict(data)).dataset == "/data/mine.csv"


DAMAGED = {
    "public-ams-as-text": lambda d: d["results"].__setitem__("test_public_ams", "3.7x"),
    "config-as-text": lambda d: d.__setitem__("config", "oops"),
    "metric-as-object": lambda d: d["results"].__setitem__("test_public_ams_mean", {"mean": 3.8, "se": 0.1}),
}
WHAT = {"public-ams-as-text": 'results.test_public_ams is "3.7x" (text), not a number or [mean, error]',
        "config-as-text": 'config is "oops" (text), not an object',
        "metric-as-object": "results.test_public_ams_mean is {\"mean\": 3.8, \"se\": 0.1} (an object), not a number "
                            "or [mean, error]"}


def damaged_folder(folder: Path, damage: str) -> Path:
    """Two good records (machines a, b) and one damaged (machine bad); returns the damaged one's path."""
    version_1(folder, "a", 3.7)
    version_1(folder, "b", 3.8)
    bad = version_1(folder, "bad", 3.9)
    data = json.loads(bad.read_text())
    DAMAGED[damage](data)
    bad.write_text(json.dumps(data))
    return bad


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_wrongly_typed_record_is_named_and_skipped_by_report_list_and_viewer(
        damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = damaged_folder(tmp_path, damage)
    line = f"{bad}: skipped, {WHAT[damage]}"
    with pytest.raises(ValueError, match="not"):
        read_record(bad)
    records, skipped = load_records(tmp_path)
    assert sorted(r.machine for r in records) == ["a", "b"] and skipped == [line]

    assert main(["report", "--results", str(tmp_path), "--out", str(tmp_path / "report.md")]) == 0
    out = capsys.readouterr().out
    assert line in out.splitlines()
    assert "| 13 | `13_swish_ensemble_embed_aug_onecycle_dense` | 2 |" in (tmp_path / "report.md").read_text()

    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    assert main(["list"]) == 0
    captured = capsys.readouterr()
    assert line in captured.err.splitlines() and "\n" not in line
    assert [r for r in captured.out.splitlines() if r.startswith(FINAL + " ")][0].endswith("a, b")

    viewer = Viewer(tmp_path)
    assert line in capsys.readouterr().out.splitlines()
    assert viewer.results[FINAL].machines == ["a", "b"]
    assert viewer.results[FINAL].scores["test_public_ams"].mean == pytest.approx(3.75)

    with pytest.raises(UserError) as err:
        Experiment.from_json(bad)
    assert str(err.value) == f"{bad}: {WHAT[damage]}"


@pytest.mark.parametrize(("data", "what"), [
    ({"exp_name": FINAL, "results": {}}, "lacks machine"),
    ({"exp_name": FINAL, "machine": "a", "results": {}, "schema_version": 9}, "has schema_version 9, which this code "
                                                                               "does not know (known: 1, 2"),
    ({"exp_name": FINAL, "machine": "a", "results": {}, "schema_version": 2}, "lacks config (required in a version-2"),
    ([1, 2], "is a list, not a results record"),
    ({"exp_name": FINAL, "machine": 7, "results": {}}, "machine is 7 (a number), not text"),
    ({"exp_name": FINAL, "machine": "a", "results": {"x": True}}, "results.x is true (true/false), not a number"),
    ({"exp_name": FINAL, "machine": "a", "results": {}, "config": {"training": {"workers": "2"}}},
     'config.training.workers is "2" (text), not an integer or null'),
])
def test_required_keys_types_and_versions_are_checked(data: Any, what: str) -> None:
    with pytest.raises(record.RecordError) as err:
        record.from_dict(data)
    assert str(err.value).startswith(what)


TRIAL_DAMAGE = {
    "score-as-text": (lambda t: t["scores"].__setitem__("val_ams_smooth", "3.7x"),
                      'scores.val_ams_smooth is "3.7x" (text), not a number or [mean, error]'),
    "params-as-text": (lambda t: t.__setitem__("params", "oops"), 'params is "oops", not an object'),
    "score-as-object": (lambda t: t["scores"].__setitem__("test_public_ams_mean", {"mean": 3.8}),
                        'scores.test_public_ams_mean is {"mean": 3.8} (an object), not a number or [mean, error]'),
}


@pytest.mark.parametrize("damage", TRIAL_DAMAGE)
def test_a_wrongly_typed_trial_is_named_and_skipped_by_the_search_analysis(
        damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for index in range(3):
        trial = {"search": "17_hyperparam_search", "machine": "a", "index": index, "proposer": "random",
                 "params": {"depth": 3, "width": 40 + index, "growth_rate": 0.1, "weight_decay": 0.0,
                            "dropout": 0.0},
                 "n_parameters": 9000 + index, "scores": {"val_ams_smooth": 3.0 + index / 10,
                                                          "test_public_ams_mean": [3.1, 0.1]},
                 "dataset": {"sha1": ["aaaa"], "simulated": True}}
        if index == 2:
            TRIAL_DAMAGE[damage][0](trial)
        (tmp_path / f"a_{index:03d}.json").write_text(json.dumps(trial))
    table = analysis.trials_table(tmp_path)
    assert list(table["index"]) == [0, 1] and list(table.val_ams_smooth) == [3.0, 3.1]
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path / 'a_002.json'}: skipped, {TRIAL_DAMAGE[damage][1]}"]


def like_args(record_path: Path, *argv: str) -> Any:
    """`higgsml run` arguments as the parser makes them, with `--like record_path`."""
    import argparse

    from modules.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    return parser.parse_args([*argv, "--like", str(record_path)])


def test_like_takes_what_the_record_says_unless_the_command_line_says_otherwise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modules.commands.run import apply_like

    path = version_1(tmp_path, "mbp")
    data = json.loads(path.read_text())
    data.update(seed=3333, schema_version=2, code={"commit": "abc", "dirty": False},
                run={"experiment": FINAL, "machine": "mbp", "quick": True, "dataset": "/data/mine.csv",
                     "engine": "batched", "scheduler": "local", "device": "cuda"})
    path.write_text(json.dumps(data))
    args = like_args(path)
    apply_like(args)
    assert (args.experiment, args.machine, args.quick, args.dataset, args.engine, args.scheduler, args.device) == (
        FINAL, "mbp", True, "/data/mine.csv", "batched", "local", "cuda")
    assert "the record's code: abc" in capsys.readouterr().out
    args = like_args(path, "13", "--machine", "helios_cpu", "--dataset", "simulated", "--engine", "lumin",
                     "--device", "cpu")
    apply_like(args)
    assert (args.machine, args.dataset, args.engine, args.device) == ("helios_cpu", "simulated", "lumin", "cpu")
    with pytest.raises(UserError, match="records a run of 13_swish_ensemble_embed_aug_onecycle_dense, not of "
                                        "experiment 12"):
        apply_like(like_args(path, "12"))
    data["seed"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="machine mbp had seed 1 for this run but has seed 3333 now"):
        apply_like(like_args(path))
    path.write_text("{")
    assert main(["run", "--like", str(path)]) == 2
    assert f"{path}: is not valid JSON" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.notebook
def test_a_quick_run_is_repeated_from_its_record_alone_with_identical_metrics(tmp_path: Path) -> None:
    import os
    import sys

    dirs = {name: str(tmp_path / name) for name in ("results", "data", "weights")}
    env = {**os.environ, "HIGGSML_RESULTS_DIR": dirs["results"], "HIGGSML_DATA_DIR": dirs["data"],
           "HIGGSML_WEIGHTS_DIR": dirs["weights"], "MPLBACKEND": "Agg"}

    def higgsml(*argv: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "modules.cli", *argv], capture_output=True, text=True, env=env,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    higgsml("run", "0", "--quick", "--machine", "mbp", "--engine", "batched")
    written = tmp_path / "results" / "quick" / "0_relu_baseline_mbp.json"
    like = tmp_path / "like.json"
    shutil.copyfile(written, like)
    for folder in dirs.values():  # nothing left but the record: data, members and results are made again
        shutil.rmtree(folder)
    done = higgsml("run", "--like", str(like))
    first, again = json.loads(like.read_text()), json.loads(written.read_text())
    assert again["run"] == first["run"] == {"experiment": "0_relu_baseline", "machine": "mbp", "quick": True,
                                            "dataset": "simulated", "engine": "batched", "scheduler": None,
                                            "device": "cpu", "split_of": None}
    assert again["config"]["training"]["reused_members"] == []
    scores = {k: v for k, v in first["results"].items() if not record.is_time(k)}
    assert {k: again["results"][k] for k in scores} == scores and scores["val_ams_max"] > 0
    assert f"same data as {like}; all {len(scores)} metrics identical (times aside)" in done.stdout
