"""Rebuild `modules/results/paper_reference.csv` from the paper's per-machine result files:
`python -m modules.commands.paper_build FOLDER [--out CSV]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules import atomic
from modules.results.paper_build import MACHINES, read_published, reference_csv


def main(argv: list[str] | None = None) -> int:
    from modules.results.paper import REFERENCE

    parser = argparse.ArgumentParser(prog="python -m modules.commands.paper_build",
                                     description="Build the paper's reference CSV from its per-machine result files.")
    parser.add_argument("folder", type=Path, help="the paper's published per-machine JSON files")
    parser.add_argument("--out", type=Path, default=REFERENCE, help=f"where to write the CSV (default {REFERENCE})")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder}: no such folder", file=sys.stderr)
        return 2
    _, skipped = read_published(args.folder)
    text = reference_csv(args.folder)
    atomic.write_text(args.out, text)
    for name in skipped:
        print(f"{name}: left out, not one of the paper's machines ({', '.join(MACHINES)})")
    print(f"wrote {args.out}: {len(text.splitlines()) - 1} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
