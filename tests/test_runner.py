"""`higgsml run`'s choice of notebook and executed-copy names (executing notebooks is tested in test_notebook13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules import runner
from modules.cli import main
from modules.errors import UserError

FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"


def test_experiment_by_number_or_full_name() -> None:
    assert runner.find_experiment("13")[0] == FINAL
    name, notebook = runner.find_experiment(FINAL)
    assert name == FINAL and notebook.name == f"{FINAL}.ipynb" and notebook.exists()


def test_unknown_experiment_lists_the_available_ones() -> None:
    with pytest.raises(UserError) as err:
        runner.find_experiment("99")
    assert "'99'" in str(err.value) and FINAL in str(err.value)


def test_only_numbered_folders_with_their_own_notebook_count(tmp_path: Path) -> None:
    (tmp_path / "2_relu").mkdir()
    (tmp_path / "2_relu" / "2_relu.ipynb").write_text("{}")
    (tmp_path / "3_empty").mkdir()
    (tmp_path / "Results_Viewing").mkdir()
    (tmp_path / "Results_Viewing" / "Results_Viewing.ipynb").write_text("{}")
    assert list(runner.experiments(tmp_path)) == ["2_relu"]


def test_executed_copy_sits_beside_the_notebook() -> None:
    notebook = Path("notebooks") / FINAL / f"{FINAL}.ipynb"
    assert runner.executed_path(notebook, "mbp", quick=False).name == f"{FINAL}_mbp.ipynb"
    assert runner.executed_path(notebook, "mbp", quick=True).name == f"{FINAL}_mbp_quick.ipynb"


def test_unknown_machine_stops_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "13", "--machine", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert "unknown machine 'nowhere'" in err and "machines.toml" in err
