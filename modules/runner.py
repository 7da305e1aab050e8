"""Run experiment notebooks headless for a machine: `higgsml run 13 --machine mbp [--dataset ...] [--quick]`,
`higgsml run all [--from N]` for every experiment in order, or `higgsml run --like results/X.json` to repeat the run a
record describes (and say whether its metrics came out identical).

Each notebook is executed with papermill in its own folder, its parameters cell receiving MACHINE, DATASET, QUICK,
FRESH, SPLIT_OF (`--split-of`: another machine's split seed on this machine's hardware) and how to train: ENGINE,
SCHEDULER and DEVICE (the options, else HIGGSML_ENGINE, HIGGSML_SCHEDULER and HIGGSML_DEVICE where a user has set
them by hand, else lumin, none, cpu). The executed copy `<experiment>_<machine>.ipynb` (`..._quick.ipynb` in quick
mode) is kept beside the notebook, and the metrics the run saved are printed as a table. A failing cell stops that
notebook with a non-zero exit showing the cell and its error; with `all`, the other notebooks still run and the
failures are listed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules import paths
from modules.batched.device import DEVICES
from modules.catalogue import code_cells, experiments, find_experiment, number
from modules.data.sources import add_dataset_argument
from modules.errors import UserError

ENGINES = ("lumin", "batched")
"""The engines' names (`modules.training.engines.ENGINES`, which a test holds equal), spelled here so that the
command line answers, and refuses, without loading torch first."""

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""The kernel's own warnings (such as ipykernel's note that a local kernel talks over unencrypted TCP) are nothing a
user can act on; its errors, and every error in the notebook's cells, still show."""
EXPECTED_ERRORS = ("UserError", "DataError")
"""Errors this project raises for bad input, each already one clear line."""


def executed_path(notebook: Path, machine: str, quick: bool, split_of: str | None = None) -> Path:
    from modules.experiment import run_label

    return notebook.with_name(f"{run_label(notebook.stem, machine, split_of)}{'_quick' if quick else ''}.ipynb")


def execute(notebook: Path, output: Path, parameters: dict[str, object], log_output: bool = False) -> None:
    """Execute `notebook` into `output` with papermill; a failing cell becomes a UserError naming it. The kernel's
    standard error reaches ours until Ctrl-C, after which only `higgsml: interrupted` is said."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from modules.kernel import StderrRelay, kernel_manager_class, quiet_on_interrupt

    try:
        with StderrRelay() as relay, quiet_on_interrupt(relay):
            papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                                       kernel_name="python3", progress_bar=sys.stderr.isatty(),
                                       log_output=log_output, extra_arguments=KERNEL_ARGUMENTS,
                                       kernel_manager_class=kernel_manager_class(relay))
    except PapermillExecutionError as err:
        if err.ename in EXPECTED_ERRORS:  # our own one-line errors say all there is to say
            raise UserError(f"{notebook.name}: {err.evalue}") from None
        print(f"--- cell [{err.exec_count}] of {notebook.name} failed ---\n{err.source}\n--- {err.ename}: {err.evalue}",
              file=sys.stderr)
        raise UserError(f"{notebook.name}: cell [{err.exec_count}] failed with {err.ename}: {err.evalue} "
                        f"(executed copy: {output})") from None


def run_in_process(notebook: Path, parameters: dict[str, object],
                   after_cell: Callable[[str, dict[str, Any]], None] | None = None,
                   until: str | None = None) -> dict[str, Any]:
    """Execute a notebook's code cells in this process, in its folder, with `parameters` overriding the defaults of
    its parameters cell; return the namespace, so tests and benchmarks can inspect the objects the notebook built.
    `after_cell(source, namespace)` is called after each cell (benchmarks time stages with it); with `until`, the
    run stops after the first cell whose source contains that text."""
    import os

    namespace: dict[str, Any] = {}
    previous = Path.cwd()
    os.chdir(notebook.parent)
    try:
        for tags, source in code_cells(notebook):
            if "parameters" in tags:  # the defaults, then the values given, as papermill injects them
                source += "\n" + "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
            exec(compile(source, str(notebook), "exec"), namespace)
            if after_cell is not None:
                after_cell(source, namespace)
            if until is not None and until in source:
                break
    finally:
        os.chdir(previous)
    return namespace


HAND_SET = {"ENGINE": "HIGGSML_ENGINE", "SCHEDULER": "HIGGSML_SCHEDULER", "DEVICE": "HIGGSML_DEVICE"}
"""Environment variables a user may set by hand instead of `--engine`, `--scheduler` and `--device` (an option wins).
Only this command layer reads them, and passes the values on as notebook parameters."""
NOTEBOOK_DEFAULTS = {"ENGINE": "batched", "SCHEDULER": None, "DEVICE": "cpu"}
"""What every experiment notebook's parameters cell says when nothing is asked for. With a Dask scheduler and no
engine asked for, the engine is LUMIN's (the batched engine trains in this process)."""


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """`--scheduler`, `--engine` and `--device`, which `higgsml run` and `higgsml search` share."""
    parser.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                        help="train the ensemble members as tasks on Dask: 'local' for a cluster on this machine, or "
                             "a scheduler's address such as tcp://host:8786 (default: HIGGSML_SCHEDULER, else none)")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="how to train the members: 'batched' (all members at once, the same members as LUMIN's "
                             "to float precision; a network it cannot train falls back to LUMIN with a note) or "
                             "'lumin' (the study's own loop, one member after another, for the paper's timing "
                             "comparisons) (default: HIGGSML_ENGINE, else batched; lumin with a --scheduler)")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="where the batched engine trains and the vectorised test-time augmentation predicts: "
                             "'cpu' (the default), 'cuda', or 'auto' (CUDA where torch sees a GPU); LUMIN's own "
                             "training uses any GPU torch sees, whatever this says (default: HIGGSML_DEVICE, else cpu)")


def training_parameters(args: argparse.Namespace) -> dict[str, object]:
    """ENGINE, SCHEDULER and DEVICE for a notebook's parameters cell: the options given, else the environment
    variables of `HAND_SET`, else the notebooks' defaults."""
    chosen = {name: getattr(args, name.lower(), None) or os.environ.get(HAND_SET[name])
              for name in NOTEBOOK_DEFAULTS}
    if chosen["ENGINE"] is None and chosen["SCHEDULER"] is not None:
        chosen["ENGINE"] = "lumin"  # members as Dask tasks: LUMIN's loop
    return {name: value or NOTEBOOK_DEFAULTS[name] for name, value in chosen.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", default=None,
                        help="experiment number (e.g. 13), full name, or 'all' for every experiment (with --like: "
                             "the record's)")
    parser.add_argument("--machine", default=None,
                        help="machine name from machines.toml (default: local; with --like: the record's)")
    parser.add_argument("--split-of", default=None, metavar="MACHINE",
                        help="use this machine's train/validation split seed (from machines.toml) on --machine's "
                             "hardware; the record is named <experiment>_<machine>_seed-<MACHINE>.json (default: "
                             "--machine's own seed)")
    parser.add_argument("--like", type=Path, default=None, metavar="RECORD",
                        help="repeat the run a results JSON records: its experiment, machine, quick or full mode, "
                             "dataset, engine, scheduler and device, each unless given here; then say whether the "
                             "metrics are identical")
    add_dataset_argument(parser)
    parser.add_argument("--quick", action="store_true",
                        help="a few thousand events, 2 models, 2 epochs; results go to results/quick/")
    parser.add_argument("--fresh", action="store_true",
                        help="start again from scratch: discard an interrupted run's members and replace an existing "
                             "record (kept in results/history/)")
    add_training_arguments(parser)
    parser.add_argument("--from", dest="start", type=int, default=None, metavar="N",
                        help="with 'all' only: start at experiment N (default: the first)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebook's own output while it runs")


def run_one(name: str, notebook: Path, args: argparse.Namespace) -> Path:
    """Execute one experiment's notebook and print its metrics; return the results JSON written."""
    from modules import locks, progress
    from modules.experiment import run_lock, run_title, workdir_for

    split_of = getattr(args, "split_of", None)
    workdir = workdir_for(name, args.machine, args.quick, split_of)
    with locks.exclusive(run_lock(workdir), run_title(name, args.machine, split_of)):
        return _run_locked(name, notebook, args, workdir / progress.FILE)


def _run_locked(name: str, notebook: Path, args: argparse.Namespace, status: Path) -> Path:
    """`run_one` once the run's lock is held (the notebook's session finds it held by this process, its parent)."""
    from modules import progress
    from modules.experiment import Experiment, metrics_table, results_dir, run_label, run_title

    split_of = getattr(args, "split_of", None)
    output = executed_path(notebook, args.machine, args.quick, split_of)
    print(f"running {run_title(name, args.machine, split_of)} ({'quick' if args.quick else 'full'} mode), "
          f"dataset {args.dataset}; executed copy: {output}", flush=True)
    start = time.perf_counter()
    parameters = {"MACHINE": args.machine, "DATASET": str(args.dataset), "QUICK": args.quick,
                  "FRESH": getattr(args, "fresh", False), "SPLIT_OF": split_of, **training_parameters(args)}
    os.environ[progress.HEADLESS] = "1"  # the kernel reports to the status file; this process shows it
    with progress.Watcher(status):
        execute(notebook, output, parameters, log_output=args.log_output)
    path = results_dir(args.quick) / f"{run_label(name, args.machine, split_of)}.json"
    result = Experiment.from_json(path)
    print(f"finished in {time.perf_counter() - start:.0f} s; {result.dataset.get('description', 'dataset unknown')}")
    print(metrics_table(result.results).to_string())
    print(f"results: {path}", flush=True)
    return path


def run_all(args: argparse.Namespace, notebooks_dir: Path | None = None) -> int:
    """Every experiment from `--from` on, in order; a failure is reported by name and the rest still run."""
    notebooks_dir = paths.NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir
    start = args.start or 0
    chosen = {name: nb for name, nb in experiments(notebooks_dir).items() if number(name) >= start}
    if not chosen:
        raise UserError(f"no experiment numbered {start} or above in {notebooks_dir}")
    failed = {}
    for i, (name, notebook) in enumerate(chosen.items(), 1):
        print(f"[{i}/{len(chosen)}] {name}", flush=True)
        try:
            run_one(name, notebook, args)
        except UserError as err:
            failed[name] = str(err)
            print(f"FAILED {name}: {err}", file=sys.stderr, flush=True)
    print(f"{len(chosen) - len(failed)} of {len(chosen)} experiments ran; "
          + ("failed: " + ", ".join(failed) if failed else "none failed"))
    return 1 if failed else 0


def refuse_what_does_not_apply(args: argparse.Namespace) -> None:
    """Options that would be ignored are refused in one line instead: `--from` without `all`, a Dask scheduler for
    the batched engine (which trains in this process)."""
    if args.start is not None and args.experiment != "all":
        raise UserError(f"--from applies only to `higgsml run all`; to run experiment {args.experiment} alone, "
                        f"leave it out")
    chosen = training_parameters(args)
    if chosen["ENGINE"] == "batched" and chosen["SCHEDULER"] is not None:
        raise UserError("the batched engine trains every member in this process: give it no --scheduler "
                        "(nor HIGGSML_SCHEDULER), or use --engine lumin to train on Dask")


def apply_like(args: argparse.Namespace) -> Any:
    """Fill in from the record named by `--like` what the command line leaves open (a `--dataset` other than auto,
    `--quick`, `--machine`, `--engine`, `--scheduler` and `--device` win); return the record read."""
    from modules import record
    from modules.experiment import lookup_machine

    try:
        earlier = record.read(args.like)
    except record.RecordError as err:
        raise UserError(f"{args.like}: {err}") from None
    spec = earlier.spec()
    if args.experiment is not None and find_experiment(args.experiment)[0] != spec.experiment:
        raise UserError(f"{args.like} records a run of {spec.experiment}, not of experiment {args.experiment}")
    args.experiment, args.machine = spec.experiment, args.machine or spec.machine
    args.quick = args.quick or spec.quick
    args.dataset = spec.dataset if str(args.dataset) == "auto" else args.dataset
    args.engine, args.device = args.engine or spec.engine, args.device or spec.device
    args.scheduler = args.scheduler or spec.scheduler
    if args.machine == spec.machine:
        args.split_of = args.split_of or spec.split_of
    seed = lookup_machine(args.split_of or args.machine).seed
    if args.machine == spec.machine and earlier.seed is not None and seed != earlier.seed:
        raise UserError(f"{args.like}: machine {args.machine} had seed {earlier.seed} for this run but has seed {seed} "
                        f"now, so the run cannot be repeated; add a machine with seed {earlier.seed} to machines.toml "
                        f"and name it with --machine")
    print(f"repeating {args.like}: {spec.experiment} on machine {args.machine}, {'quick' if args.quick else 'full'} "
          f"mode, dataset {args.dataset}, engine {args.engine}, scheduler {args.scheduler or 'none'}, device "
          f"{args.device}" + (f"; the record's code: {earlier.code.commit}" if earlier.code.commit else ""), flush=True)
    return earlier


def main(args: argparse.Namespace) -> int:
    from modules import record
    from modules.cluster import check_reachable
    from modules.experiment import lookup_machine

    earlier = apply_like(args) if args.like is not None else None
    args.machine = args.machine or "local"
    lookup_machine(args.machine)
    if args.split_of is not None:
        lookup_machine(args.split_of)
    if args.experiment is None:
        raise UserError("name an experiment (a number, a full name or 'all'), or a record to repeat with --like")
    refuse_what_does_not_apply(args)
    scheduler = training_parameters(args)["SCHEDULER"]
    if scheduler is not None:
        check_reachable(scheduler)
    if args.experiment == "all":
        return run_all(args)
    path = run_one(*find_experiment(args.experiment), args)
    if earlier is not None:
        print(record.compare(earlier, record.read(path), str(args.like)))
    return 0
