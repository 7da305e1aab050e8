"""Fetch, check, simulate and prepare the challenge data (`higgsml data COMMAND`)."""

from __future__ import annotations

import argparse

from modules.cli import Registry, add_subcommands

DATA_COMMANDS: Registry = {
    "check": ("modules.commands.data.check",
              "validate a challenge CSV and summarise its rows, weights and -999 fractions"),
    "fetch": ("modules.commands.data.fetch",
              "download the CERN Open Data file (SHA-1 checked), or check the Kaggle pair"),
    "simulate": ("modules.commands.data.simulate",
                 "generate the SIMULATED stand-in for the challenge file (the default data)"),
    "compare-real": ("modules.commands.data.compare_real", "measure how close the simulated data are to real events"),
    "prepare": ("modules.commands.data.prepare", "split, transform and write the LUMIN fold files, as the study did"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_subcommands(parser, DATA_COMMANDS, "data_command")


def main(args: argparse.Namespace) -> int:
    return args.handler(args)
