"""Results across machines and experiments, on hand-made records: means and standard errors, compare_to's error
propagation, blind mode in every output, datasets kept apart, unreadable files skipped by name, the paper's
reference, the report command and the viewing notebook."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modules import paths, plots
from modules.cli import main
from modules.results import report
from modules.results.comparison import ExpComp
from modules.results.paper import KAGGLE_TOP3, paper_result
from modules.results.records import load_records
from modules.results.result import Result, Value, format_value

SIM = {"kind": "simulated", "files": [{"file": "simulated-v5-seed2014-818238.csv", "sha1": "aaaa",
                                       "generator": {"kind": "simulated", "version": 5, "seed": 2014,
                                                     "events": 818238}}]}
REAL = {"kind": "opendata", "files": [{"file": "atlas-higgs-challenge-2014-v2.csv.gz", "sha1": "bbbb"}]}
CPU = {"cpu": "Test CPU", "cpu_cores": 4, "torch_threads": 4, "gpu": None}
GPU = {"cpu": "Test CPU", "cpu_cores": 4, "torch_threads": 4, "gpu": "Test GPU"}
FINAL = "13_swish_ensemble_embed_aug_onecycle_dense"
BEFORE = "12_swish_ensemble_embed_aug_onecycle"


def record(folder: Path, name: str, machine: str, dataset: dict, hardware: dict, public: float, private: float,
           train_time: float, fold_error: float = 0.05, **config: Any) -> Path:
    results = {"train_time": train_time, "val_time": 1.0, "test_time": 10.0, "val_ams_max": public + 0.2,
               "val_ams_smooth": public + 0.1, "test_public_ams": public, "test_private_ams": private,
               "test_public_ams_mean": [public + 0.01, fold_error], "test_private_ams_mean": [private + 0.01, 0.02]}
    path = folder / f"{name}_{machine}.json"
    path.write_text(json.dumps({"exp_name": name, "machine": machine, "results": results, "config": config,
                                "dataset": dataset, "hardware": hardware}))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Experiment 13 on three machines (two on one CPU, one GPU) and 12 on two, on the simulated data; 13 also on
    real data; plus a corrupt file, a truncated one and a quick run."""
    for machine, hw, public, private, seconds in (("a", CPU, 3.7, 3.71, 100.0), ("b", CPU, 3.8, 3.72, 120.0),
                                                  ("c", GPU, 3.9, 3.73, 30.0)):
        record(tmp_path, FINAL, machine, SIM, hw, public, private, seconds)
    for machine, hw, public, seconds in (("a", CPU, 3.6, 80.0), ("c", GPU, 3.7, 20.0)):
        record(tmp_path, BEFORE, machine, SIM, hw, public, 3.7, seconds)
    record(tmp_path, FINAL, "d", REAL, CPU, 3.81, 3.80, 500.0)
    (tmp_path / "corrupt.json").write_text("{")
    (tmp_path / f"{FINAL}_half.json").write_text('{"exp_name": "13", "results": {"train_ti')
    record(tmp_path, FINAL, "quick", SIM, CPU, 1.0, 1.0, 1.0, quick=True)
    return tmp_path


def results_of(folder: Path, name: str, blind: bool = True, simulated: bool = True) -> Result:
    records, _ = load_records(folder)
    chosen = [r for r in records if r.exp_name == name and r.dataset.simulated == simulated]
    return Result.from_records(chosen, blind=blind)


def test_mean_and_standard_error_over_machines(folder: Path) -> None:
    result = results_of(folder, FINAL, blind=False)
    public = result.scores["test_public_ams"]
    assert public.n == 3 and public.mean == pytest.approx(3.8)
    assert public.se == pytest.approx(np.std([3.7, 3.8, 3.9], ddof=1) / math.sqrt(3)) == pytest.approx(0.057735, 1e-4)
    assert result.scores["test_public_ams_mean"].mean == pytest.approx(3.81)  # the value, not its fold error
    assert result.machines == ["a", "b", "c"]
    # times only averaged over the same hardware: the two CPU machines together, the GPU apart
    train = result.times["train_time"]
    assert set(train) == {"Test GPU", "Test CPU (4 cores, 4 torch threads)"}
    assert train["Test CPU (4 cores, 4 torch threads)"].mean == pytest.approx(110)
    assert train["Test CPU (4 cores, 4 torch threads)"].se == pytest.approx(10.0)  # std(100, 120) = 14.14 over sqrt 2
    assert train["Test GPU"].mean == 30.0 and math.isnan(train["Test GPU"].se)


def test_times_of_other_engines_and_of_dask_workers_are_kept_apart(tmp_path: Path) -> None:
    record(tmp_path, FINAL, "a", SIM, CPU, 3.7, 3.7, 200.0, training={"engine": "lumin", "workers": None})
    record(tmp_path, FINAL, "b", SIM, CPU, 3.7, 3.7, 50.0, training={"engine": "batched", "workers": None})
    record(tmp_path, FINAL, "e", SIM, CPU, 3.7, 3.7, 160.0, training={"engine": "lumin", "workers": 2})
    train = results_of(tmp_path, FINAL).times["train_time"]
    cpu = "Test CPU (4 cores, 4 torch threads)"
    assert {d: v.mean for d, v in train.items()} == {cpu: 200.0, f"{cpu}; batched engine": 50.0,
                                                      f"{cpu}; Dask, 2 workers": 160.0}


def test_one_machine_keeps_its_own_error_over_the_test_folds(folder: Path) -> None:
    real = results_of(folder, FINAL, simulated=False)
    assert real.scores["test_public_ams_mean"] == Value(3.82, 0.05, 1)
    assert math.isnan(real.scores["test_public_ams"].se)
    assert format_value(3.8123, 0.0123) == "3.812 ± 0.012" and format_value(3.8123, float("nan")) == "3.812"
    assert format_value(1234.5, float("nan")) == "1234" and format_value(0.123456, 0.00021) == "0.12346 ± 0.00021"


def test_compare_to_propagates_the_uncertainties(folder: Path) -> None:
    a, b = results_of(folder, FINAL), results_of(folder, BEFORE)
    row = a.compare_to(b).loc[("test_public_ams", "")]
    sa, sb = 0.1 / math.sqrt(3), 0.05  # std(3.7, 3.8, 3.9) = 0.1 over sqrt 3; std(3.6, 3.7) = 0.0707 over sqrt 2
    assert row.delta == pytest.approx(3.8 - 3.65)
    assert row.delta_se == pytest.approx(math.sqrt(sa**2 + sb**2))
    assert row.percent == pytest.approx(100 * (3.8 / 3.65 - 1))
    assert row.percent_se == pytest.approx(100 * math.sqrt((sa / 3.65) ** 2 + (3.8 * sb / 3.65**2) ** 2))
    gpu = a.compare_to(b).loc[("train_time", "Test GPU")]
    assert gpu.delta == 10.0 and gpu.percent == pytest.approx(50.0)


def test_blind_mode_hides_private_scores_in_every_output(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blind, before = results_of(folder, FINAL), results_of(folder, BEFORE)
    assert not any("private" in m for m in blind.scores)
    assert "private" not in repr(blind) .replace("private scores hidden", "")
    assert not any("private" in m for m in blind.table().index)
    assert not any("private" in m for m, _ in blind.compare_to(before).index)
    comp = ExpComp([before, blind], labels=["12", "13"])
    assert all("3.72" not in row and "3.73" not in row for row in comp.latex_rows())

    figures: list[Any] = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: figures.append(fig) or [Path(f"{stem}.png")])
    comp.plot_ams(folder / "ams")
    texts = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert texts and not any("Private AMS" in t and "Kaggle" not in t for t in texts)
    assert any("Kaggle 1st" in t for t in texts)  # the winners' public numbers are drawn anyway

    unblinded = ExpComp([results_of(folder, BEFORE, blind=False), results_of(folder, FINAL, blind=False)])
    unblinded.plot_ams(folder / "ams2")
    assert any(t.get_text() == "Private AMS" for t in figures[1].axes[0].get_legend().get_texts())


def test_results_on_different_datasets_stay_apart(folder: Path) -> None:
    records, _ = load_records(folder)
    with pytest.raises(ValueError, match="one experiment on one dataset"):
        Result.from_records([r for r in records if r.exp_name == FINAL])
    grouped = report.group_results(records, blind=True)
    assert len(grouped) == 2
    by_label = {d.label: r for d, r in grouped.items()}
    real = by_label["real data: atlas-higgs-challenge-2014-v2.csv.gz"]
    assert set(real) == {FINAL} and real[FINAL].machines == ["d"]
    simulated = by_label["SIMULATED toy simulation v5, seed 2014, 818,238 events"]
    assert simulated[FINAL].machines == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one dataset"):
        ExpComp([simulated[FINAL], real[FINAL]])


def test_unreadable_quick_and_reduced_records_are_skipped_by_name(folder: Path) -> None:
    record(folder, FINAL, "bench", SIM, CPU, 3.0, 3.0, 5.0, benchmark_models_override=1)
    records, skipped = load_records(folder)
    assert sorted(r.machine for r in records) == ["a", "a", "b", "c", "c", "d"]
    assert any("corrupt.json: skipped, is not valid JSON" in line for line in skipped)
    assert any(f"{FINAL}_half.json: skipped, is not valid JSON" in line for line in skipped)
    assert any(f"{FINAL}_quick.json: skipped, a quick or reduced run" in line for line in skipped)
    assert any(f"{FINAL}_bench.json: skipped, a quick or reduced run" in line for line in skipped)


def test_the_paper_reference_matches_its_published_table() -> None:
    final = paper_result(FINAL, blind=False)
    assert final.dataset.key == "paper" and len(final.machines) == 6
    assert str(final.scores["test_private_ams"]) == "3.8034 ± 0.0050"  # paper_table: 3.803 ± 0.005
    assert str(final.scores["test_public_ams"]) == "3.799 ± 0.014"
    assert final.times["train_time"]["mbp"].mean == pytest.approx(1076.65, abs=0.01)
    assert "test_private_ams" not in paper_result(FINAL).scores  # blind by default
    ablation = paper_result("18_baseline_embed", blind=False)  # recorded as _no_tta by the paper
    assert ablation.scores["test_private_ams"].n == 6 and str(ablation.scores["test_private_ams"]) == "3.436 ± 0.016"
    assert paper_result("99_nothing") is None
    assert KAGGLE_TOP3[0] == ("1st", 3.80581)


def test_report_writes_sections_per_dataset_with_plots_and_stays_blind(folder: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = folder / "report.md"
    assert main(["report", "--results", str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## SIMULATED toy simulation v5" in text and "## real data: atlas-higgs-challenge-2014-v2.csv.gz" in text
    assert "Simulated data: these are not the paper's reproduction" in text
    assert "**Blind**" in text and "private AMS" not in text  # no private column
    assert "3.72" not in text and "3.73" not in text  # nor any private value (mean 3.720, folds 3.730)
    assert "corrupt.json: skipped" in text and "corrupt.json: skipped" in capsys.readouterr().out
    pngs = sorted(p.name for p in (folder / "report").glob("*.png"))
    assert len(pngs) == 9 and all((folder / "report" / p).with_suffix(".pdf").exists() for p in pngs)
    assert "| 13 | `13_swish_ensemble_embed_aug_onecycle_dense` | 3 |" in text
    # public mean of folds 3.71, 3.81, 3.91 against 3.61, 3.71 here: paired over the machines both ran (a, c)
    # (0.142 apart, more than twice their combined error 0.056: the paper's finding does not hold here)
    assert "| 13 | +dense | 12 | 2 paired | 0.150 ± 0.050 | 0.008 ± 0.025 | **no** |" in text
    assert "- **SIMULATED toy simulation v5, seed 2014, 818,238 events**: 0 of 21 findings reproduced" in text
    assert main(["report", "--results", str(folder), "--out", str(out), "--unblind", "--dataset", "real"]) == 0
    text = out.read_text()
    assert "private AMS" in text and "## SIMULATED" not in text and "3.800" in text


def test_report_without_results_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no full-run results" in err and not (tmp_path / "report.md").exists()


def test_a_report_name_without_suffix_is_refused_before_anything_is_written(folder: Path, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`--out new-folder` (not yet made) named the report and its plots folder alike: the plots were written, then
    the report failed on the folder. Now one line asks for a suffix, and nothing is written."""
    assert main(["report", "--results", str(folder), "--out", str(tmp_path / "review")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a suffix such as .md" in err and not (tmp_path / "review").exists()


def test_report_out_an_existing_folder_writes_report_md_inside_and_a_bad_out_is_one_line_before_writing(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--out DIR` where DIR exists puts report.md and its plots in it (as `cp` treats a folder); where the plots
    folder would be a file, one line says so and nothing is written."""
    target = tmp_path / "reports"
    target.mkdir()
    assert main(["report", "--results", str(folder), "--out", str(target)]) == 0
    assert f"report written to {target / 'report.md'}" in capsys.readouterr().out
    assert "# Results report" in (target / "report.md").read_text()
    assert len(list((target / "report").glob("*.png"))) == 9
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "summary").write_text("a file where the plots folder would go")
    assert main(["report", "--results", str(folder), "--out", str(blocked / "summary.md")]) == 2
    err = capsys.readouterr().err
    assert err == f"higgsml: error: {blocked / 'summary'}: is a file, where the report's plots folder would go; " \
                  f"move it or choose another --out\n"
    assert sorted(p.name for p in blocked.iterdir()) == ["summary"]


@pytest.mark.notebook
@pytest.mark.slow
def test_the_viewing_notebook_runs_headless_on_whatever_results_exist(folder: Path, tmp_path: Path) -> None:
    notebook = paths.NOTEBOOKS_DIR / "Results_Viewing.ipynb"
    out = tmp_path / "viewed.ipynb"
    params = ["-p", "RESULTS", str(folder), "-p", "PLOTS", str(tmp_path / "plots")]
    done = subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(out), *params, "--cwd",
                           str(notebook.parent)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = "".join(json.dumps(c.get("outputs", [])) for c in json.loads(out.read_text())["cells"])
    assert "0_relu_baseline: no result for this dataset, skipped" in outputs
    assert "+dense: against 12_swish_ensemble_embed_aug_onecycle" in outputs
    assert "3.72" not in outputs and "3.73" not in outputs and "private" not in outputs.replace(
        "private scores hidden", "")  # blind
    assert len(list((tmp_path / "plots").glob("*.png"))) == 4


def test_one_table_holds_every_record_with_its_metrics_and_errors(folder: Path) -> None:
    from modules import results

    table = results.table(folder)
    assert len(table) == 7 and sorted(table.machine) == ["a", "a", "b", "c", "c", "d", "quick"]
    assert sorted(line.split(": skipped")[0].rsplit("/", 1)[-1] for line in table.attrs["skipped"]) == [
        f"{FINAL}_half.json", "corrupt.json"]
    row = table[(table.experiment == FINAL) & (table.machine == "c")].iloc[0]
    assert (row.test_public_ams, row.test_public_ams_mean_se) == (3.9, 0.05) and row.test_public_ams_mean == 3.9 + 0.01
    assert row.device == "Test GPU" and row.engine == "lumin" and row.study and row.schema_version == 1
    assert row.dataset == "aaaa" and row.simulated and row.train_time == 30.0 and "test_public_ams_se" not in table
    assert not table[table.machine == "quick"].study.iloc[0]
    studied = table[table.study & table.simulated & (table.experiment == FINAL)]
    assert Result.from_table(studied).scores == results_of(folder, FINAL).scores
