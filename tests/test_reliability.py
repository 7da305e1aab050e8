"""Faults a long run meets on a shared machine: killed mid-training, run twice, run beside another, a bad input, a
read-only or full disk. None may lose or corrupt a result; each bad input is one clear line and a non-zero exit.
docs/reliability.md lists every case with the test that proves it."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from modules import locks, paths, session
from modules.cli import main
from modules.data import sources
from modules.data.prepare import PrepareOptions, damage, prepare
from modules.errors import UserError
from modules.experiment import Experiment

FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"


def run_command(dirs: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, **dirs, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "modules.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def scores(record: dict) -> dict:
    """The metrics a rerun must reproduce: everything but the times."""
    return {k: v for k, v in record["results"].items() if not k.endswith("_time") and "time_" not in k}


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything it started (papermill's kernel runs in a process of its own); a short-lived
    child (a hardware query, say) may end on its own between being listed and being killed."""
    parent = psutil.Process(process.pid)
    for child in [*parent.children(recursive=True), parent]:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("reliability")
    return {"HIGGSML_DATA_DIR": str(root / "data"), "HIGGSML_RESULTS_DIR": str(root / "results")}


def quick_record(dirs: dict[str, str], name: str = FINAL) -> dict:
    return json.loads((Path(dirs["HIGGSML_RESULTS_DIR"]) / "quick" / f"{name}_local.json").read_text())


# --- resume and determinism --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.notebook
def test_the_same_run_twice_gives_identical_metrics(dirs: dict[str, str]) -> None:
    first = run_command(dirs, "run", "13", "--quick", "--fresh")
    assert first.returncode == 0, first.stderr[-2000:]
    a = quick_record(dirs)
    second = run_command(dirs, "run", "13", "--quick", "--fresh")
    assert second.returncode == 0, second.stderr[-2000:]
    b = quick_record(dirs)
    assert scores(a) == scores(b) and scores(a)["val_ams_max"] > 0
    assert a["config"]["training"]["reused_members"] == []


@pytest.mark.slow
@pytest.mark.notebook
def test_a_run_killed_while_training_resumes_from_the_unfinished_member_with_the_same_metrics(
        dirs: dict[str, str]) -> None:
    # LUMIN's loop, member after member (the batched engine's members finish together)
    reference = run_command(dirs, "run", "13", "--quick", "--fresh", "--engine", "lumin")
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = scores(quick_record(dirs))

    workdir = session.workdir_for(FINAL, "local", quick=True) / "weights"
    shutil.rmtree(workdir.parent)
    env = {**os.environ, **dirs, "MPLBACKEND": "Agg"}
    process = subprocess.Popen([sys.executable, "-m", "modules.cli", "run", "13", "--quick", "--engine", "lumin"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    first_member, deadline = workdir / "member_0.json", time.time() + 600
    while not first_member.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    kill_tree(process)  # the first member is finished, the second is training
    assert first_member.exists() and not (workdir / "member_1.json").exists(), "killed during the second member"

    resumed = run_command(dirs, "run", "13", "--quick", "--engine", "lumin")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    record = quick_record(dirs)
    assert record["config"]["training"]["reused_members"] == [0]
    assert scores(record) == expected


def test_members_trained_under_another_configuration_are_never_reused(tmp_path: Path) -> None:
    from modules.training.resume import prepare_folder

    (tmp_path / "member_0.json").write_text("{}")
    prepare_folder(tmp_path, "aaaa", resume=True)
    assert not (tmp_path / "member_0.json").exists()  # no fingerprint: an unknown folder starts afresh
    (tmp_path / "member_0.json").write_text("{}")
    prepare_folder(tmp_path, "aaaa", resume=True)
    assert (tmp_path / "member_0.json").exists()  # same fingerprint: kept
    prepare_folder(tmp_path, "bbbb", resume=True)
    assert not (tmp_path / "member_0.json").exists()  # another configuration: discarded
    assert json.loads((tmp_path / "ensemble.json").read_text()) == {"fingerprint": "bbbb"}


# --- concurrency -------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.notebook
def test_two_experiments_sharing_one_prepared_folder_run_at_once(tmp_path: Path) -> None:
    """12 and 13 use the same data options and machine, so the same prepared folder (prepared by whichever
    gets there first while the other waits) and the same fold files, read by both at once."""
    dirs = {"HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "results")}
    env = {**os.environ, **dirs, "MPLBACKEND": "Agg"}
    processes = [subprocess.Popen([sys.executable, "-m", "modules.cli", "run", n, "--quick"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for n in ("12", "13")]
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    assert len(list((tmp_path / "data" / "prepared").glob("[0-9a-f]*"))) == 1
    for name in ("12_swish_ensemble_embed_aug_onecycle", FINAL):
        assert json.loads((tmp_path / "results" / "quick" / f"{name}_local.json").read_text())["results"]


@pytest.mark.slow
def test_two_processes_preparing_the_same_cache_leave_one_valid_folder(tmp_path: Path) -> None:
    source = sources.resolve("simulated", data_dir=tmp_path, events=20_000)
    code = ("import sys; from pathlib import Path; from modules.data import sources; "
            "from modules.data.prepare import PrepareOptions, prepare; "
            f"s = sources.resolve('simulated', data_dir=Path({str(tmp_path)!r}), events=20000); "
            f"p = prepare(s, PrepareOptions(seed=3, max_events=4000), root=Path({str(tmp_path / 'prep')!r})); "
            "print(p.folder)")
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    folders = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        folders.append(out.strip().splitlines()[-1])
    assert folders[0] == folders[1]
    assert damage(Path(folders[0])) is None
    assert [p.name for p in (tmp_path / "prep").iterdir() if not p.name.startswith(".")] == [Path(folders[0]).name]
    assert prepare(source, PrepareOptions(seed=3, max_events=4000), root=tmp_path / "prep").folder == Path(folders[0])


def test_two_machines_saving_results_at_the_same_moment_both_keep_valid_records(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from modules.experiment import Experiment\n"
            "for i in range(30):\n"
            f"    e = Experiment('1_relu_ensemble', sys.argv[1], results_dir=Path({str(tmp_path)!r}))\n"
            "    e['value'] = i; e['payload'] = 'x' * 200_000; e.save()\n")
    processes = [subprocess.Popen([sys.executable, "-c", code, m]) for m in ("mbp", "helios_cpu")]
    for process in processes:
        assert process.wait(timeout=300) == 0
    for machine in ("mbp", "helios_cpu"):
        record = json.loads((tmp_path / f"1_relu_ensemble_{machine}.json").read_text())
        assert record["results"]["value"] == 29 and record["machine"] == machine
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_the_same_experiment_and_machine_twice_at_once_is_refused(dirs: dict[str, str]) -> None:
    lock = session.workdir_for(FINAL, "local", quick=True)
    with locks.exclusive(lock.with_name(f".{lock.name}.lock"), "a test holding the lock"):
        done = run_command(dirs, "run", "13", "--quick", timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("higgsml: error:")
    assert "13_swish_ensemble_embed_aug_onecycle_dense on machine local is already running" in done.stderr
    assert "Traceback" not in done.stderr


# --- records are never replaced by accident ----------------------------------------------------------------------

def full_record(folder: Path, machine: str = "local", value: float = 3.5) -> Path:
    exp = Experiment("0_relu_baseline", machine, results_dir=folder)
    exp["test_public_ams"] = value
    return exp.save()


@pytest.mark.slow  # minutes: runs notebook 13
def test_a_full_run_refuses_to_start_over_an_existing_record(tmp_path: Path) -> None:
    full_record(tmp_path)
    dirs = {"HIGGSML_RESULTS_DIR": str(tmp_path), "HIGGSML_DATA_DIR": str(tmp_path / "data")}
    started = time.perf_counter()
    done = run_command(dirs, "run", "0", "--machine", "local", timeout=300)
    assert done.returncode == 2 and time.perf_counter() - started < 120  # before any data or training
    assert "already holds a full run of 0_relu_baseline on local" in done.stderr and "--fresh" in done.stderr
    assert json.loads((tmp_path / "0_relu_baseline_local.json").read_text())["results"]["test_public_ams"] == 3.5


def test_replacing_a_record_keeps_the_old_one_in_history(tmp_path: Path) -> None:
    old = full_record(tmp_path, value=3.5)
    first_finished = json.loads(old.read_text())["finished"]
    exp = Experiment("0_relu_baseline", "local", results_dir=tmp_path)
    exp["test_public_ams"] = 3.6
    exp.save(history=tmp_path / "history")
    assert json.loads(old.read_text())["results"]["test_public_ams"] == 3.6
    kept = list((tmp_path / "history").glob("0_relu_baseline_local_*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["finished"] == first_finished


@pytest.mark.slow
def test_a_benchmark_never_writes_into_results(tmp_path: Path) -> None:
    before = {p.name: p.stat().st_mtime for p in paths.RESULTS_DIR.glob("*.json")}
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp_path / "data"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "benchmarks/bench_notebook.py", "--quick", "--models", "1",
                           "--out", str(tmp_path / "bench")], capture_output=True, text=True, env=env, timeout=900,
                          cwd=paths.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name: p.stat().st_mtime for p in paths.RESULTS_DIR.glob("*.json")} == before
    record = json.loads((tmp_path / "bench" / "quick" / f"{FINAL}_local.json").read_text())
    assert record["config"]["benchmark_models_override"] == 1 and record["config"]["training"]["n_models"] == 1


# --- disks and caches --------------------------------------------------------------------------------------------

def test_a_full_disk_while_writing_a_record_is_one_line_and_keeps_the_earlier_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = full_record(tmp_path, value=3.5)
    exp = Experiment("0_relu_baseline", "local", results_dir=tmp_path)
    exp["test_public_ams"] = 3.9

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(UserError) as err:
        exp.save(history=tmp_path / "history")
    assert "\n" not in str(err.value) and "No space left on device" in str(err.value) and str(old) in str(err.value)
    monkeypatch.undo()
    assert json.loads(old.read_text())["results"]["test_public_ams"] == 3.5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow  # minutes: runs notebook 13
def test_an_unwritable_results_folder_stops_a_run_before_it_starts(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dirs = {"HIGGSML_RESULTS_DIR": str(blocker / "results"), "HIGGSML_DATA_DIR": str(tmp_path / "data")}
    done = run_command(dirs, "run", "0", "--quick", timeout=300)
    assert done.returncode == 2 and "results cannot be written there" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()  # nothing was prepared

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(UserError, match="results cannot be written there \\(Permission denied\\)"):
        session.check_writable(tmp_path / "read-only")


@pytest.mark.slow
def test_a_prepared_cache_missing_a_fold_file_is_prepared_again_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = sources.resolve("simulated", data_dir=tmp_path, events=20_000)
    options = PrepareOptions(seed=4, max_events=4000)
    first = prepare(source, options, root=tmp_path / "prep")
    (first.folder / "val.hdf5").unlink()
    assert damage(first.folder) == "val.hdf5 missing"
    again = prepare(source, options, root=tmp_path / "prep")
    assert again.folder == first.folder and damage(again.folder) is None
    assert "are damaged or incomplete (val.hdf5 missing); set aside as" in capsys.readouterr().out


# --- bad inputs at the command line ------------------------------------------------------------------------------

@pytest.mark.slow  # minutes: each case starts a run
@pytest.mark.parametrize(("content", "words"), [
    ("a,b,c\n1,2,3\n", "header"),
    (b"\x1f\x8b\x08\x00 this is not gzip data", "gzip"),
])
def test_a_dataset_that_is_not_the_official_format_is_one_line(tmp_path: Path, content: str | bytes,
                                                               words: str) -> None:
    path = tmp_path / ("bad.csv.gz" if isinstance(content, bytes) else "bad.csv")
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    dirs = {"HIGGSML_RESULTS_DIR": str(tmp_path / "results"), "HIGGSML_DATA_DIR": str(tmp_path / "data")}
    done = run_command(dirs, "run", "0", "--quick", "--dataset", str(path), timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr and words in done.stderr.lower()
    assert not (tmp_path / "results" / "quick" / "0_relu_baseline_local.json").exists()


def test_a_corrupt_record_in_results_is_named_and_skipped_by_list_and_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    (tmp_path / "0_relu_baseline_mbp.json").write_text('{"exp_name": "0_relu_baseline", "machine": "mb')
    full_record(tmp_path, machine="helios_cpu")
    assert main(["list"]) == 0
    assert "helios_cpu" in capsys.readouterr().out
    assert main(["report", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0_relu_baseline_mbp.json: skipped, is not valid JSON" in out
    assert math.isfinite(json.loads((tmp_path / "0_relu_baseline_helios_cpu.json").read_text())["results"][
        "test_public_ams"])
