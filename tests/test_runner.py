"""`higgsml run` and `higgsml list`: finding experiments and their metadata, naming executed copies, running every
experiment with one failing, and listing which results exist (executing the real notebooks is in test_notebooks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules import catalogue, paths, runner
from modules.cli import main
from modules.errors import UserError

FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"


def write_notebook(folder: Path, code: str, metadata: dict | None = None) -> Path:
    """A minimal experiment notebook: a parameters cell, then `code`."""
    folder.mkdir(parents=True)
    cells = [{"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
              "outputs": [], "source": 'MACHINE = "local"\nDATASET = "auto"\nQUICK = False'},
             {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}, "outputs": [], "source": code}]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                             **({"higgsml": metadata} if metadata else {})}}
    path = folder / f"{folder.name}.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def test_experiment_by_number_or_full_name() -> None:
    assert catalogue.find_experiment("13")[0] == FINAL
    name, notebook = catalogue.find_experiment(FINAL)
    assert name == FINAL and notebook.name == f"{FINAL}.ipynb" and notebook.exists()


def test_unknown_experiment_lists_the_available_ones() -> None:
    with pytest.raises(UserError) as err:
        catalogue.find_experiment("99")
    assert "'99'" in str(err.value) and FINAL in str(err.value)


def test_only_numbered_folders_with_their_own_notebook_count_in_number_order(tmp_path: Path) -> None:
    for name in ("10_b", "2_relu", "1_a"):
        write_notebook(tmp_path / name, "pass")
    (tmp_path / "3_empty").mkdir()
    write_notebook(tmp_path / "Results_Viewing", "pass")
    assert list(runner.experiments(tmp_path)) == ["1_a", "2_relu", "10_b"]


def test_metadata_gives_the_paper_id_and_the_comparison() -> None:
    info = catalogue.experiment_info(catalogue.find_experiment("13")[1])
    assert info["paper_id"] == "28" and info["compare_to"] == "12_swish_ensemble_embed_aug_onecycle"


def test_executed_copy_sits_beside_the_notebook() -> None:
    notebook = Path("notebooks") / FINAL / f"{FINAL}.ipynb"
    assert runner.executed_path(notebook, "mbp", quick=False).name == f"{FINAL}_mbp.ipynb"
    assert runner.executed_path(notebook, "mbp", quick=True).name == f"{FINAL}_mbp_quick.ipynb"


def test_unknown_machine_stops_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "13", "--machine", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert "unknown machine 'nowhere'" in err and "machines.toml" in err


def test_a_notebook_run_outside_an_experiment_folder_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modules import session

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="cannot tell the experiment from the working folder"):
        session.experiment_name()
    assert session.experiment_name(Path("notebooks") / FINAL) == FINAL


RECORD = """
from modules.experiment import Experiment
from modules.session import results_dir, experiment_name
exp = Experiment(experiment_name(), MACHINE, results_dir=results_dir(QUICK))
exp["test_private_ams"] = 1.5
exp.save()
"""


@pytest.mark.notebook
@pytest.mark.slow  # minutes: executes several notebooks
def test_run_all_reports_a_failing_notebook_by_name_and_runs_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("HIGGSML_RESULTS_DIR", str(tmp_path / "results"))  # for the kernels
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "1_first", RECORD)
    write_notebook(notebooks / "2_broken", "raise RuntimeError('deliberately broken')")
    write_notebook(notebooks / "3_last", RECORD)
    options = runner.RunOptions("local", "auto", quick=True)
    assert runner.run_all(options, 0, notebooks) == 1
    out, err = capsys.readouterr()
    assert "FAILED 2_broken" in err and "deliberately broken" in err
    assert "2 of 3 experiments ran; failed: 2_broken" in out
    assert {p.name for p in (tmp_path / "results" / "quick").glob("*.json")} == {"1_first_local.json",
                                                                                "3_last_local.json"}
    (tmp_path / "results" / "quick" / "1_first_local.json").unlink()
    assert runner.run_all(options, 3, notebooks) == 0
    assert not (tmp_path / "results" / "quick" / "1_first_local.json").exists()  # --from 3 skips 1 and 2
    with pytest.raises(UserError, match="no experiment numbered 4 or above"):
        runner.run_all(options, 4, notebooks)


def test_list_shows_paper_ids_and_which_results_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    (tmp_path / "quick").mkdir()
    record = {"exp_name": FINAL, "machine": "helios_cuda", "results": {}}
    (tmp_path / f"{FINAL}_helios_cuda.json").write_text(json.dumps(record))
    (tmp_path / "quick" / f"{FINAL}_mbp.json").write_text(json.dumps({**record, "machine": "mbp"}))
    (tmp_path / "broken.json").write_text("{")
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert len(lines) == len(runner.experiments())
    assert "28_swish_ensemble_embed_aug_onecycle_dense" in lines[FINAL] and lines[FINAL].endswith("helios_cuda")
    assert lines["0_relu_baseline"].split()[1] == "0_relu_baseline" and lines["0_relu_baseline"].endswith("-")
    assert "not in the paper" in lines["23_swish_ensemble_embed_aug_onecycle_dense_cycled-beta1"]
    assert main(["list", "--machine", "mbp"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines[FINAL].split()[2:] == ["-", "quick"]
    assert main(["list", "--machine", "helios_cuda"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines[FINAL].split()[2:] == ["full", "-"]
