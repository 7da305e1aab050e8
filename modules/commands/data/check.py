"""Validate a challenge CSV and summarise it: rows and weight sums per KaggleSet and Label, and where -999 appears.

Any problem with the file ends the command with one line naming the file, the line and the column, and status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modules.data.check import summary
from modules.data.load import read_challenge_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a .csv or .csv.gz in the CERN Open Data or Kaggle format")


def main(args: argparse.Namespace) -> int:
    df = read_challenge_csv(args.path)
    print(summary(args.path, df))
    return 0
