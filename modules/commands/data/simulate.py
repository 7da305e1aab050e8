"""Generate a simulated stand-in for the ATLAS Higgs ML Challenge 2014 file (`higgsml data simulate`).

The events come from a fast toy simulation of the lepton-hadron channel (H -> tau tau signal; Z -> tau tau, ttbar and
W+jets backgrounds) and are written in exactly the official 35-column format, with KaggleSet, Weight and
KaggleWeight following the real file's semantics. A sidecar `<file>.meta.json` says that the file is simulated, by
which generator version, seed and size, so that nothing computed from it can pass for a result on real data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modules import paths
from modules.data.simulation.config import DEFAULT_SEED, VERSION
from modules.data.simulation.simulate import default_filename, write_simulation
from modules.schema import FULL_FILE_ROWS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=FULL_FILE_ROWS, help="number of events (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output CSV, gzip when it ends in .gz (default: DATA_DIR/" + default_filename() + ")")


def main(args: argparse.Namespace) -> int:
    out = args.out
    if out is None:
        paths.DATA_DIR.mkdir(parents=True, exist_ok=True)
        out = paths.DATA_DIR / default_filename(args.seed, args.events)
    write_simulation(out, args.events, args.seed, progress=True)
    print(f"wrote {args.events:,} SIMULATED events (toy simulation v{VERSION}, seed {args.seed}) to {out}")
    return 0
