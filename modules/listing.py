"""List the experiments: `higgsml list [--machine M]`.

Every experiment notebook with its paper ID, what it adds and to which experiment it compares; with `--machine`,
whether a full result (results/) and a quick one (results/quick/) exist for that machine, otherwise the machines
that have a full result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules import paths
from modules.catalogue import experiment_info, experiments
from modules.results.records import read_record, run_name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--machine", help="show whether a full and a quick result exist for this machine")


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


def main(args: argparse.Namespace) -> int:
    from modules.experiment import lookup_machine, run_label

    if args.machine:
        lookup_machine(args.machine)
    rows, machines = [], machines_with_results(paths.RESULTS_DIR)
    for name, notebook in experiments().items():
        info = experiment_info(notebook)
        paper = "not in the paper" if info.get("beyond_paper") else info.get("paper_name") or "-"
        if args.machine:
            label = run_label(name, args.machine)
            full = (paths.RESULTS_DIR / f"{label}.json").exists()
            quick = (paths.RESULTS_DIR / "quick" / f"{label}.json").exists()
            status = f"{'full' if full else '-':4}  {'quick' if quick else '-':5}"
        else:
            status = ", ".join(machines.get(name, [])) or "-"
        rows.append((name, paper, status))
    width = max(len(r[0]) for r in rows)
    paper_width = max(len(r[1]) for r in rows)
    header = f"results for {args.machine} (full quick)" if args.machine else "machines with a full result"
    print(f"{'experiment':{width}}  {'paper':{paper_width}}  {header}")
    for name, paper, status in rows:
        print(f"{name:{width}}  {paper:{paper_width}}  {status}")
    return 0
