"""Run the hyper-parameter search (experiment 17): `higgsml search [--trials N] [--machine M] [--quick] [--gp-after N]`.

Each trial proposes an architecture (random, or with `--gp-after N` from a Gaussian process once N trials exist on any
machine), trains a 3-model dense Swish ensemble with 1cycle and augmentation, and scores it: the validation AMS at the
cut and the test set's public AMS (mean over folds), both with test-time augmentation. Private scores are never
computed here. Every trial is saved as it finishes (results/search/17_hyperparam_search/<machine>_<index>.json;
results/quick/search/... in quick mode); a restarted search skips the trials that exist and redoes an unfinished one
with the same architecture; several machines can search into one folder at once. At the end a summary record
`17_hyperparam_search_<machine>.json` names the best trial.
"""

from __future__ import annotations

import argparse

from modules.commands.options import add_dataset_argument, add_training_arguments, training_parameters
from modules.errors import UserError
from modules.search.run import QUICK_TRIALS, TRIALS, search


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=None,
                        help=f"trials for this machine (default: {TRIALS}; {QUICK_TRIALS} with --quick)")
    parser.add_argument("--machine", default="local", help="machine name from machines.toml (default: %(default)s)")
    add_dataset_argument(parser)
    parser.add_argument("--quick", action="store_true", help="a few thousand events, 2 models, 2 epochs a trial")
    add_training_arguments(parser)
    parser.add_argument("--gp-after", type=int, default=None, metavar="N",
                        help="once N trials exist (all machines), propose with a Gaussian process (default: random)")


def main(args: argparse.Namespace) -> int:
    from modules.experiment import lookup_machine

    lookup_machine(args.machine)
    if args.trials is not None and args.trials < 1:
        raise UserError(f"--trials must be at least 1, got {args.trials}")
    how = training_parameters(args.engine, args.scheduler, args.device)
    search(args.machine, str(args.dataset), args.quick, args.trials, args.gp_after, how["ENGINE"], how["SCHEDULER"],
           how["DEVICE"])
    return 0
