"""Download the CERN Open Data file of the challenge (record 328) into the data folder, or check the Kaggle pair.

The download resumes a partial `.part` file with an HTTP Range request, shows a progress bar, and only becomes the
real file after its SHA-1 matches the published one. `--kaggle` instead checks `training.csv` and `test.csv`, which
Kaggle only hands out to logged-in users and which must therefore be put in the data folder by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from modules import paths
from modules.data import fetch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=paths.DATA_DIR,
                        help="folder to download into (default: %(default)s)")
    parser.add_argument("--kaggle", action="store_true",
                        help="check the Kaggle training.csv and test.csv placed in the data folder by hand instead")
    parser.add_argument("--url", default=None,
                        help="download from this address instead (a mirror); the SHA-1 must still be the published one")
    parser.add_argument("--timeout", type=float, default=fetch.TIMEOUT_S,
                        help="seconds to wait for the server before giving up (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    if args.kaggle:
        fetch.check_kaggle(args.data_dir)
    else:
        remote = fetch.OPENDATA if args.url is None else dataclasses.replace(fetch.OPENDATA, url=args.url)
        fetch.download(remote, args.data_dir, args.timeout)
    return 0
