"""List the experiments: `higgsml list [--machine M]`.

Every experiment notebook with its paper ID, what it adds and to which experiment it compares; with `--machine`,
whether a full result (results/) and a quick one (results/quick/) exist for that machine, otherwise the machines
that have a full result.
"""

from __future__ import annotations

import argparse

from modules.listing import experiment_rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--machine", help="show whether a full and a quick result exist for this machine")


def main(args: argparse.Namespace) -> int:
    from modules.experiment import lookup_machine

    if args.machine:
        lookup_machine(args.machine)
    rows = experiment_rows(args.machine)
    width = max(len(r[0]) for r in rows)
    paper_width = max(len(r[1]) for r in rows)
    header = f"results for {args.machine} (full quick)" if args.machine else "machines with a full result"
    print(f"{'experiment':{width}}  {'paper':{paper_width}}  {header}")
    for name, paper, status in rows:
        print(f"{name:{width}}  {paper:{paper_width}}  {status}")
    return 0
