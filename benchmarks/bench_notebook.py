"""Benchmark: the final model (notebook 13) end to end, with per-stage wall times and peak memory.

Executes the notebook's own code cells in this process (no Jupyter needed, so it also runs on a bare GPU box),
with the parameters injected as `higgsml run` would, and prints the stage timings and the metrics it saved.
`--models N` trains N ensemble members instead of the study's 10 (to fit a short device lease); the train time of
the full ensemble is then about 10/N times the printed one, and the report says which was run. The record goes to
`--out` (default: a temporary folder), never into results/, so a benchmark never replaces an experiment's record;
its members are trained afresh in that folder too, so a real run's members in weights/ are never touched.

    python benchmarks/bench_notebook.py --machine epyc2 [--dataset auto] [--quick] [--models N] [--engine lumin|batched]
                                       [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

NAME = "13_swish_ensemble_embed_aug_onecycle_dense"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machine", default="local")
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, help="ensemble members to train (default: the notebook's)")
    parser.add_argument("--engine", choices=("lumin", "batched"), default="lumin",
                        help="train the members with LUMIN one by one (the study's way) or all at once")
    parser.add_argument("--out", type=Path, help="folder for the benchmark's record (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_notebook_"))
    os.environ["HIGGSML_RESULTS_DIR"] = str(out)  # read when modules.paths is first imported, just below
    os.environ["HIGGSML_WEIGHTS_DIR"] = str(out / "weights")  # so a real run's trained members are never touched

    from modules import paths
    from modules.runner import run_in_process

    notebook = paths.NOTEBOOKS_DIR / NAME / f"{NAME}.ipynb"

    timings: list[tuple[str, float]] = []
    start = last = time.perf_counter()

    def after_cell(source: str, namespace: dict[str, Any]) -> None:
        nonlocal last
        run = namespace.get("run")
        if run is not None and "benchmark_models_override" not in run.config:
            run.config["benchmark_models_override"] = args.models
            if args.models and run.scale.n_models != args.models:
                run.scale = dataclasses.replace(run.scale, n_models=args.models)
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        now = time.perf_counter()
        timings.append((first_line[:70], now - last))
        print(f"[{now - start:7.1f} s] done: {first_line[:70]}", flush=True)
        last = time.perf_counter()

    parameters = {"MACHINE": args.machine, "DATASET": args.dataset, "QUICK": args.quick, "FRESH": True,
                  "ENGINE": args.engine}
    namespace = run_in_process(notebook, parameters, after_cell)
    experiment = namespace["run"].experiment
    print("\nstage timings (s):")
    for line, seconds in timings:
        print(f"  {seconds:8.1f}  {line}")
    print(f"total: {time.perf_counter() - start:.1f} s; peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    print(f"hardware: {experiment.hardware}")
    print(f"models trained: {namespace['run'].scale.n_models}; {experiment.dataset.get('description')}")
    print(f"record: {experiment.path}")
    print(json.dumps(experiment.results, indent=1))


if __name__ == "__main__":
    main()
