"""The feature-study notebooks execute headless in quick mode on the simulated default and leave their plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules import paths

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feature-data")


def execute(name: str, data_dir: Path, out_dir: Path) -> str:
    notebook = paths.NOTEBOOKS_DIR / f"{name}.ipynb"
    executed = out_dir / f"{name}.ipynb"
    env = {**os.environ, "HIGGSML_DATA_DIR": str(data_dir), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(executed), "-p", "QUICK", "True",
                           "-p", "PLOTS", str(out_dir / "plots"), "--cwd", str(notebook.parent)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return "".join(json.dumps(c.get("outputs", [])) for c in json.loads(executed.read_text())["cells"])


def plots_in(out_dir: Path) -> set[str]:
    return {p.name for p in (out_dir / "plots").glob("*.png") if p.with_suffix(".pdf").exists()}


def test_feature_selection(data_dir: Path, tmp_path: Path) -> None:
    outputs = execute("Feature_Selection", data_dir, tmp_path)
    assert "SIMULATED" in outputs and "DER_mass_MMC" in outputs and "Importance" in outputs
    assert {"dendrogram_high_level.png", "importance_high_level.png", "correlation_high_level.png",
            "dependence_high_level.png"} <= plots_in(tmp_path)


def test_feature_selection_full_reports_what_survives_each_filter(data_dir: Path, tmp_path: Path) -> None:
    outputs = execute("Feature_Selection-Full", data_dir, tmp_path)
    for step in ("not constant", "linear correlation", "permutation importance", "mutual dependence"):
        assert step in outputs
    assert "kept at the end:" in outputs and "ConsoleMasterBar" not in outputs


def test_feature_plotting_draws_the_key_features_with_units(data_dir: Path, tmp_path: Path) -> None:
    execute("Feature_plotting", data_dir, tmp_path)
    written = plots_in(tmp_path)
    assert {"distribution_DER_mass_MMC.png", "distribution_PRI_met_sumet.png", "distribution_PRI_lep_px.png"} <= written
