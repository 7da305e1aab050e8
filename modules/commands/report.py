"""Write the results report: `higgsml report [--unblind] [--dataset all|simulated|real|TEXT] [--out results/report.md]`.

For every dataset the results folder holds (real data, each simulated version, a user's file — never averaged
together), a section with each experiment's scores here (mean ± standard error over machines and seeds) beside the
paper's and the difference, each technique against its predecessor here and in the paper with whether they agree
(`modules.results.findings`; "n of N findings reproduced" at the top), the times per device, and the plots (PNG and
PDF in a folder beside the report). Quick and reduced runs never appear, except in the report of a quick
reproduction, which holds quick runs only. Blind by default: no private-leaderboard score appears anywhere until
`--unblind`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modules import paths
from modules.results.report import build, report_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unblind", action="store_true", help="show private-leaderboard scores (hidden by default)")
    parser.add_argument("--dataset", default="all",
                        help="which datasets: all, simulated, real, or text found in a dataset's label "
                             "(default: %(default)s)")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default: results/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report file, or an existing folder to write report.md into (default: "
                             "RESULTS/report.md); the plots go to a folder beside it named like the report")


def main(args: argparse.Namespace) -> int:
    results_dir = args.results or paths.RESULTS_DIR
    out = report_path(args.out or results_dir / "report.md")
    _, skipped = build(results_dir, out, blind=not args.unblind, dataset_spec=args.dataset)
    for line in skipped:
        print(line)
    print(f"report written to {out} (plots in {out.with_suffix('')}/)")
    return 0
