"""Which experiments exist, with their paper IDs, and which results each has: the rows `higgsml list` shows."""

from __future__ import annotations

import sys
from pathlib import Path

from modules import paths
from modules.catalogue import experiment_info, experiments
from modules.results.records import read_record, run_name


def machines_with_results(results_dir: Path) -> dict[str, list[str]]:
    """Experiment name -> machines with a full result in `results_dir`, read from the records themselves (machine
    names may contain underscores, so file names alone are ambiguous), a run with another machine's split seed as
    `machine (seed of that machine)`; a bad record is named, with what is wrong, on
    stderr and skipped."""
    found: dict[str, list[str]] = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            record = read_record(path)
        except ValueError as err:
            print(f"{path}: skipped, {err}", file=sys.stderr)
            continue
        found.setdefault(record.exp_name, []).append(run_name(record.machine, record.split_of))
    return found


def experiment_rows(machine: str | None = None) -> list[tuple[str, str, str]]:
    """(experiment, paper name, results) for every experiment: with `machine`, whether its full and quick results
    exist, otherwise the machines that have a full result."""
    from modules.experiment import run_label

    rows, machines = [], machines_with_results(paths.RESULTS_DIR)
    for name, notebook in experiments().items():
        info = experiment_info(notebook)
        paper = "not in the paper" if info.get("beyond_paper") else info.get("paper_name") or "-"
        if machine:
            label = run_label(name, machine)
            full = (paths.RESULTS_DIR / f"{label}.json").exists()
            quick = (paths.RESULTS_DIR / "quick" / f"{label}.json").exists()
            status = f"{'full' if full else '-':4}  {'quick' if quick else '-':5}"
        else:
            status = ", ".join(machines.get(name, [])) or "-"
        rows.append((name, paper, status))
    return rows
