"""Benchmark: the final model (notebook 13) end to end, with per-stage wall times and peak memory.

Executes the notebook's own code cells in this process (no Jupyter needed, so it also runs on a bare GPU box),
with the parameters injected as `higgsml run` would, and prints the stage timings and the metrics it saved.
`--models N` trains N ensemble members instead of the study's 10 (to fit a short device lease); the train time of
the full ensemble is then about 10/N times the printed one, and the report says which was run.

    python benchmarks/bench_final_model.py --machine epyc2 [--dataset auto] [--quick] [--models N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time

os.environ.setdefault("MPLBACKEND", "Agg")

from modules import paths  # noqa: E402

NAME = "13_swish_ensemble_embed_aug_onecycle_dense"
NOTEBOOK = paths.NOTEBOOKS_DIR / NAME / f"{NAME}.ipynb"


def code_cells(notebook: dict) -> list[tuple[list[str], str]]:
    """(tags, source) of every code cell, in order."""
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cells.append((cell.get("metadata", {}).get("tags", []), source))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machine", default="local")
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, help="ensemble members to train (default: the notebook's)")
    args = parser.parse_args()

    namespace: dict = {}
    timings: list[tuple[str, float]] = []
    start = time.perf_counter()
    for tags, source in code_cells(json.loads(NOTEBOOK.read_text())):
        if "parameters" in tags:
            source = f"MACHINE = {args.machine!r}\nDATASET = {args.dataset!r}\nQUICK = {args.quick!r}"
        began = time.perf_counter()
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
        if "run" in namespace and args.models and namespace["run"].scale.n_models != args.models:
            run = namespace["run"]
            run.scale = dataclasses.replace(run.scale, n_models=args.models)
            run.config["benchmark_models_override"] = args.models
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        timings.append((first_line[:70], time.perf_counter() - began))
        print(f"[{time.perf_counter() - start:7.1f} s] done: {first_line[:70]}", flush=True)

    experiment = namespace["run"].experiment
    print("\nstage timings (s):")
    for line, seconds in timings:
        print(f"  {seconds:8.1f}  {line}")
    print(f"total: {time.perf_counter() - start:.1f} s; peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    print(f"hardware: {experiment.hardware}")
    print(f"models trained: {namespace['run'].scale.n_models}; dataset: {experiment.dataset.get('description')}")
    print(json.dumps(experiment.results, indent=1))


if __name__ == "__main__":
    main()
