"""Run experiment notebooks headless for a machine: `higgsml run 13 --machine mbp [--dataset ...] [--quick]`,
`higgsml run all [--from N]` for every experiment in order, or `higgsml run --like results/X.json` to repeat the run a
record describes (and say whether its metrics came out identical).

Each notebook is executed with papermill in its own folder, its parameters cell receiving MACHINE, DATASET, QUICK,
FRESH, SPLIT_OF (`--split-of`: another machine's split seed on this machine's hardware) and how to train: ENGINE,
SCHEDULER and DEVICE (the options, else HIGGSML_ENGINE, HIGGSML_SCHEDULER and HIGGSML_DEVICE where a user has set them
by hand, else batched (lumin with a scheduler), none, cpu). The executed copy `<experiment>_<machine>.ipynb`
(`..._quick.ipynb` in quick mode) is kept beside the notebook, and the metrics the run saved are printed as a table. A
failing cell stops that notebook with a non-zero exit showing the cell and its error; with `all`, the other notebooks
still run and the failures are listed at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from modules import runner
from modules.catalogue import find_experiment
from modules.commands.options import add_dataset_argument, add_training_arguments, training_parameters
from modules.errors import UserError


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


def refuse_what_does_not_apply(args: argparse.Namespace, chosen: dict[str, object]) -> None:
    """Options that would be ignored are refused in one line instead: `--from` without `all`, a Dask scheduler for
    the batched engine (which trains in this process)."""
    if args.start is not None and args.experiment != "all":
        raise UserError(f"--from applies only to `higgsml run all`; to run experiment {args.experiment} alone, "
                        f"leave it out")
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
    chosen = training_parameters(args.engine, args.scheduler, args.device)
    refuse_what_does_not_apply(args, chosen)
    if chosen["SCHEDULER"] is not None:
        check_reachable(chosen["SCHEDULER"])
    options = runner.RunOptions(args.machine, str(args.dataset), args.quick, args.fresh, args.split_of,
                                chosen["ENGINE"], chosen["SCHEDULER"], chosen["DEVICE"], args.log_output)
    if args.experiment == "all":
        return runner.run_all(options, args.start)
    path = runner.run_one(*find_experiment(args.experiment), options)
    if earlier is not None:
        print(record.compare(earlier, record.read(path), str(args.like)))
    return 0
