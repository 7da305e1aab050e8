"""Show the package versions this environment runs, the hardware that was detected and the project's folders."""

from __future__ import annotations

import argparse

from modules import hardware, paths
from modules.info import versions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def main(args: argparse.Namespace) -> int:
    del args
    for name, version in versions().items():
        print(f"{name:16s} {version}")
    for key, value in hardware.describe().items():
        print(f"{key:16s} {value}")
    for name in ("DATA_DIR", "RESULTS_DIR", "NOTEBOOKS_DIR"):
        print(f"{name.lower():16s} {getattr(paths, name)}")
    return 0
