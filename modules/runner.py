"""Run an experiment notebook headless for a machine: `higgsml run 13 --machine mbp [--dataset ...] [--quick]`.

The notebook is executed with papermill, its parameters cell receiving MACHINE, DATASET and QUICK; the executed copy
`<experiment>_<machine>.ipynb` (`..._quick.ipynb` in quick mode) is kept beside the notebook, and the metrics the run
saved are printed as a table. A failing cell stops the run with a non-zero exit showing the cell and its error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from modules import paths
from modules.data.sources import add_dataset_argument
from modules.errors import UserError


def experiments(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> dict[str, Path]:
    """Experiment name -> its notebook, for every numbered folder holding a notebook of the same name."""
    found = {}
    for folder in sorted(notebooks_dir.iterdir()):
        notebook = folder / f"{folder.name}.ipynb"
        if folder.is_dir() and folder.name.split("_")[0].isdigit() and notebook.exists():
            found[folder.name] = notebook
    return found


def find_experiment(spec: str, notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> tuple[str, Path]:
    """Accept the experiment's number ('13') or its full name; an unknown one lists what exists."""
    known = experiments(notebooks_dir)
    matches = [name for name in known if name == spec or name.split("_")[0] == spec]
    if len(matches) != 1:
        listing = ", ".join(known) or "none"
        raise UserError(f"no experiment {spec!r} in {notebooks_dir}; available: {listing}")
    return matches[0], known[matches[0]]


def executed_path(notebook: Path, machine: str, quick: bool) -> Path:
    return notebook.with_name(f"{notebook.stem}_{machine}{'_quick' if quick else ''}.ipynb")


def execute(notebook: Path, output: Path, parameters: dict[str, object], log_output: bool = False) -> None:
    """Execute `notebook` into `output` with papermill; a failing cell becomes a UserError naming it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                                   kernel_name="python3", progress_bar=sys.stderr.isatty(), log_output=log_output)
    except PapermillExecutionError as err:
        print(f"--- cell [{err.exec_count}] of {notebook.name} failed ---\n{err.source}\n--- {err.ename}: {err.evalue}",
              file=sys.stderr)
        raise UserError(f"{notebook.name}: cell [{err.exec_count}] failed with {err.ename}: {err.evalue} "
                        f"(executed copy: {output})") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment number (e.g. 13) or full name")
    parser.add_argument("--machine", default="local", help="machine name from machines.toml (default: %(default)s)")
    add_dataset_argument(parser)
    parser.add_argument("--quick", action="store_true",
                        help="a few thousand events, 2 models, 2 epochs; results go to results/quick/")
    parser.add_argument("--log-output", action="store_true", help="stream the notebook's own output while it runs")


def main(args: argparse.Namespace) -> int:
    from modules.experiment import Experiment, lookup_machine
    from modules.session import metrics_table, results_dir

    lookup_machine(args.machine)
    name, notebook = find_experiment(args.experiment)
    output = executed_path(notebook, args.machine, args.quick)
    print(f"running {name} on machine {args.machine} ({'quick' if args.quick else 'full'} mode), "
          f"dataset {args.dataset}; executed copy: {output}")
    start = time.perf_counter()
    execute(notebook, output, {"MACHINE": args.machine, "DATASET": str(args.dataset), "QUICK": args.quick},
            log_output=args.log_output)
    path = results_dir(args.quick) / f"{name}_{args.machine}.json"
    result = Experiment.from_json(path)
    print(f"finished in {time.perf_counter() - start:.0f} s; dataset: {result.dataset.get('description', '?')}")
    print(metrics_table(result.results).to_string())
    print(f"results: {path}")
    return 0
