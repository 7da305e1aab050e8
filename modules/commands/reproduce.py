"""Reproduce the paper on this machine: `higgsml reproduce --machine NAME [--only 0,1,13] [--beyond-paper]
[--seeds mbp,icarus] [--dataset ...] [--quick] [--engine batched|lumin] [--scheduler local|ADDRESS [--workers N]]`.

Runs every experiment of the study (0-16 and 18-22; `--only` chooses, `--beyond-paper` adds 23 and the other
experiments beyond the paper) under each of the paper's six split seeds (helios_cuda, helios_cpu, mbp, daedalus,
icarus, morpheus; `--seeds` chooses) on the hardware `--machine` names, then writes the report. Each (experiment,
seed) pair is one `higgsml run N --machine NAME --split-of SEED_MACHINE`, recorded as
`results/<experiment>_<machine>_seed-<seed machine>.json` (results/quick/ in quick mode): the name says both the
hardware it ran on and the seed it used, and the record's hardware is the hardware detected. Pairs already recorded
are kept, so a killed reproduction continues with what is missing. With `--scheduler`, the pairs are tasks on a Dask
cluster, each training its members with the chosen engine on the worker it lands on.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from modules.commands.options import ENGINES, HAND_SET, add_dataset_argument, training_parameters
from modules.errors import UserError

if TYPE_CHECKING:
    from modules.reproduce import Pair, Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--machine", default="local",
                        help="the hardware this runs on, a machine in machines.toml other than the paper's "
                             "(default: %(default)s)")
    parser.add_argument("--only", default=None, metavar="N,N,...",
                        help="run only these experiments (numbers or names, comma-separated), e.g. 0,1,13")
    parser.add_argument("--beyond-paper", action="store_true",
                        help="add the experiments beyond the paper (such as 23) to the default set")
    parser.add_argument("--seeds", default=None, metavar="MACHINE,...",
                        help="use the split seeds of these machines only (default: the paper's six)")
    add_dataset_argument(parser)
    parser.add_argument("--quick", action="store_true",
                        help="a few thousand events, 2 models, 2 epochs per run; records and report go to "
                             "results/quick/")
    parser.add_argument("--engine", choices=ENGINES, default="batched",
                        help="how each run trains its members (default: %(default)s)")
    parser.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                        help="run the (experiment, seed) pairs as tasks on Dask: 'local' for a cluster on this "
                             "machine, or a scheduler's address such as tcp://host:8786 (default: one after another "
                             "here)")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --scheduler local: how many worker processes (default: one per core)")


def run_pair_here(plan: Plan, pair: Pair) -> object:
    """One pair as `higgsml run` runs it, in this process (no Dask: the members train here)."""
    from modules.catalogue import find_experiment
    from modules.runner import RunOptions, run_one

    chosen = training_parameters(plan.engine, None, None)
    options = RunOptions(plan.machine, plan.dataset, plan.quick, split_of=pair.seed_of, engine=chosen["ENGINE"],
                         scheduler=None, device=chosen["DEVICE"])  # never a hand-set HIGGSML_SCHEDULER
    return run_one(*find_experiment(pair.experiment), options)


def main(args: argparse.Namespace) -> int:
    from modules.cluster import check_reachable
    from modules.reproduce import PAPER_MACHINES, choose_experiments, make_plan, reproduce_and_report

    if args.workers is not None and args.scheduler != "local":
        raise UserError("--workers sizes a local Dask cluster: give it with --scheduler local, or leave it out")
    seeds = [s.strip() for s in args.seeds.split(",") if s.strip()] if args.seeds else PAPER_MACHINES
    plan = make_plan(args.machine, choose_experiments(args.only, args.beyond_paper), seeds,
                     dataset=str(args.dataset), quick=args.quick, engine=args.engine,
                     unset=(HAND_SET["SCHEDULER"],))
    if args.scheduler is not None:
        check_reachable(args.scheduler)
    return reproduce_and_report(plan, run_pair_here, args.scheduler, args.workers)
