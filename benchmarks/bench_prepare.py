"""Benchmark: the study's data preparation on a full-size file (target here: <= 60 s and <= 4 GB peak memory).

Uses the real CERN file when it is in data/, else the simulated default (818,238 events), and prepares it as the
final model does (PRI_jet_num categorical, Cartesian momenta, 10 folds) into a scratch folder, bypassing the cache.
Prints wall time (import of LUMIN included and separately), peak resident memory and what was prepared.

    python benchmarks/bench_prepare.py [--dataset auto|opendata|simulated|PATH]
"""

from __future__ import annotations

import argparse
import importlib
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="auto")
    args = parser.parse_args()

    start = time.perf_counter()
    from modules.data import sources
    from modules.data.prepare import PrepareOptions, prepare

    importlib.import_module("lumin.data_processing.file_proc")  # LUMIN's import, timed apart from the work

    imported = time.perf_counter()
    source = sources.resolve(args.dataset)
    print(source.description)
    resolved = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        prepared = prepare(source, PrepareOptions(cat_feats=("PRI_jet_num",), seed=3333), root=Path(root))
        done = time.perf_counter()
        sizes = {p.name: p.stat().st_size / 1e6 for p in Path(prepared.folder).glob("*.hdf5")}
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"rows: {prepared.rows}")
    print(f"fold files (MB): { {k: round(v, 1) for k, v in sizes.items()} }")
    print(f"import modules + LUMIN: {imported - start:.1f} s")
    print(f"resolve dataset (generates the simulated file only the first time): {resolved - imported:.1f} s")
    print(f"prepare (read, validate, split, transform, write folds): {done - resolved:.1f} s")
    print(f"total wall time: {done - start:.1f} s; peak resident memory: {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()
