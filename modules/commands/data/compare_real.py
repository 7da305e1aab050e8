"""How close the simulated stand-in is to real events (`higgsml data compare-real [REAL_CSV]`).

Per feature and class, the weighted two-sample Kolmogorov-Smirnov distance between simulated and real events
(defined values only; the undefined, -999, fractions are shown beside it), the classes' PRI_jet_num fractions, a
classifier two-sample test (the held-out ROC AUC of a model trained to tell simulated from real events: 0.5 means
indistinguishable), and the difficulty of the physics task on each (held-out AUC of signal against background).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modules.data.compare import DEFAULT_EVENTS, REAL_EXCERPT, compare, report
from modules.data.load import read_challenge_csv
from modules.data.simulation.config import DEFAULT_SEED
from modules.data.simulation.simulate import simulate
from modules.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real", nargs="?", type=Path, default=REAL_EXCERPT,
                        help="real events in the official format (default: the shared excerpt %(default)s)")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="simulated events (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="simulation seed (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    if not args.real.is_file():
        raise UserError(f"real events not found at {args.real}: give the path of a CSV in the official format")
    real = read_challenge_csv(args.real)
    if "Label" not in real or "Weight" not in real:
        raise UserError(f"{args.real} has no Label and Weight columns: compare-real needs labelled real events")
    print(f"simulating {args.events:,} events (seed {args.seed}) and training the comparison classifiers ...")
    sim = simulate(args.events, args.seed, progress=True)
    result = compare(real, sim)
    print(report(result, f"{args.real} ({len(real):,} events)",
                 f"SIMULATED toy, seed {args.seed} ({len(sim):,} events)"))
    return 0
