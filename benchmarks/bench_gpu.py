"""Benchmark: the final model (notebook 13's configuration) trained by the batched engine and scored with the
vectorised test-time augmentation on a GPU, with checks against the same code on the CPU and LUMIN's own training.

Stages, in order; each is guarded, and the JSON record is rewritten after each, so a failure or a time-out in one
stage keeps the figures of the stages before it:

  data          simulate the full default file (818,238 events; --quick: 20,000) and prepare it as notebook 13 does
                (PRI_jet_num categorical, 10 folds; seed of machine helios_cuda, the study's GPU machine)
  warmup        start CUDA and cuBLAS (timed apart, so the training time is the training's)
  train         10 members x 15 epochs (135 sub-epochs; the study's 1cycle, 45 + 90 sub-epochs; patience 50
                sub-epochs), all at once, batched engine on the device (through HIGGSML_DEVICE, as
                `higgsml run --device` passes it)
  tta           test-time-augmented predictions of the validation and the 550,000 test events on the device; AMS
  tta_cpu       the same predictions on the CPU, one torch thread per core; largest difference
  lumin         LUMIN's own training (which uses any GPU torch sees) of member 0 for the first --check-epochs epochs;
                its validation losses against the batched member 0's (same weights, batches and schedule)
  train_cpu     the batched engine on the CPU for the first --check-epochs epochs; losses against the device run's
  train_cpu_full  the whole training on the CPU too, if its pace in train_cpu says it fits in the time left, then its
                ensemble scored (TTA on the device): best losses, AMS and predictions against the device-trained one

Optional stages (all after tta) are skipped once less than --reserve seconds (train_cpu_full: its estimate) are
left before --deadline. Float32 matrix products stay true float32 unless --tf32 (the record says which).

    python benchmarks/bench_gpu.py --out OUT/gpu_bench.json [--quick] [--device auto|cuda|cpu] [--deadline EPOCH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

MACHINE = "helios_cuda"
"""The study's GPU machine: its seed fixes the split and the members' seeds."""


class Record:
    """The JSON record, written again after every stage."""

    def __init__(self, path: Path, deadline: float) -> None:
        self.path, self.deadline = path, deadline
        self.data: dict[str, Any] = {"script": "benchmarks/bench_gpu.py", "stages": {}, "skipped": {}, "errors": {}}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)

    def left(self) -> float:
        return self.deadline - time.time()

    def stage(self, name: str, work: Any, optional: bool = False, reserve: float = 0.0) -> Any:
        """Run `work()` (returning a dict of figures) as stage `name`; record its figures or its error."""
        if optional and self.left() < reserve:
            self.data["skipped"][name] = f"{self.left():.0f} s left, under the {reserve:.0f} s it is given"
            print(f"== {name}: skipped ({self.data['skipped'][name]})", flush=True)
            self.save()
            return None
        print(f"== {name} ({self.left():.0f} s left)", flush=True)
        started = time.perf_counter()
        try:
            figures = work()
        except Exception as error:  # noqa: BLE001  (a stage's failure must not lose the others' figures)
            self.data["errors"][name] = "".join(traceback.format_exception(error)[-6:])
            print(f"== {name} FAILED after {time.perf_counter() - started:.1f} s:\n{self.data['errors'][name]}",
                  flush=True)
            self.save()
            return None
        figures = dict(figures or {})
        figures["stage_wall_s"] = round(time.perf_counter() - started, 3)
        self.data["stages"][name] = figures
        print(f"== {name}: {json.dumps(figures, default=str)[:1500]}", flush=True)
        self.save()
        return figures


def versions() -> dict[str, Any]:
    """Python and the packages the benchmark runs on (with where they were imported from)."""
    import importlib

    out: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                           "cores": os.cpu_count()}
    for name in ("torch", "numpy", "pandas", "sklearn", "scipy", "h5py", "lumin", "fastcore", "matplotlib"):
        try:
            module = importlib.import_module(name)
            out[name] = f"{getattr(module, '__version__', '?')} ({Path(module.__file__).parent.parent})"
        except Exception as error:  # noqa: BLE001
            out[name] = f"not importable: {type(error).__name__}: {error}"
    return out


def final_model(fy: Any) -> Any:
    """Notebook 13's network: Swish, 6 dense layers of 33, the jet multiplicity embedded in 3, Adam (eps 1e-8)."""
    from lumin.nn.models.helpers import CatEmbedder
    from lumin.nn.models.model_builder import ModelBuilder

    return ModelBuilder("classification", cont_feats=fy.cont_feats, n_out=1,
                        cat_embedder=CatEmbedder.from_fy(fy, emb_szs=[3]),
                        model_args={"body": {"act": "swish", "width": 33, "depth": 6, "dense": True}},
                        opt_args={"opt": "adam", "eps": 1e-8})


def onecycle(epochs: int) -> Any:
    """Notebook 13's 1cycle (the study's, `modules.models.original`) scaled to `epochs` as bench_final_model.py
    scales it (45 + 90 sub-epochs for the study's 15 epochs). A new partial every time: the study's 1cycle writes
    into its `lr_range` list (later members warm up from 0), which must not leak from one training into the next."""
    from modules.models.original import OneCycle

    return partial(OneCycle, lengths=(45 * epochs // 15 or 1, 90 * epochs // 15 or 1), lr_range=[1e-4, 1e-2],
                   mom_range=(0.85, 0.95), interp="cosine")


def losses(trained: Any) -> list[list[float]]:
    return [list(map(float, m.history[0]["Validation"])) for m in trained.members]


def largest_relative(a: list[list[float]], b: list[list[float]]) -> float:
    """The largest relative difference between the epochs both runs of each member have."""
    import numpy as np

    worst = 0.0
    for x, y in zip(a, b, strict=False):
        n = min(len(x), len(y))
        if n:
            worst = max(worst, float(np.max(np.abs(np.array(x[:n]) / np.array(y[:n]) - 1))))
    return worst


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    try:
        return run(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the simulated file, the folds and the members


def run(scratch: Path) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the JSON record to write")
    parser.add_argument("--quick", action="store_true", help="20,000 simulated events (4,000 kept), 2 x 2")
    parser.add_argument("--device", default="auto", help="auto (CUDA where seen), cuda or cpu")
    parser.add_argument("--models", type=int, default=None, help="members (default 10; quick 2)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 15; quick 2)")
    parser.add_argument("--check-epochs", type=int, default=None,
                        help="epochs of the LUMIN and CPU checks (default 3; quick 1)")
    parser.add_argument("--patience", type=int, default=None,
                        help="early-stopping patience in sub-epochs (default notebook 13's 50; quick: none)")
    parser.add_argument("--deadline", type=float, default=None, help="epoch seconds by which to be done")
    parser.add_argument("--reserve", type=float, default=60.0, help="seconds an optional stage needs left")
    parser.add_argument("--sim-workers", type=int, default=None, help="processes simulating (default: up to 8)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in float32 matrix products on CUDA")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: one per core)")
    args = parser.parse_args()
    quick = args.quick
    n_models = args.models or (2 if quick else 10)
    n_epochs = args.epochs or (2 if quick else 15)
    check_epochs = min(args.check_epochs or (1 if quick else 3), n_epochs)
    patience = args.patience if args.patience is not None else (None if quick else 50)
    record = Record(args.out, args.deadline or time.time() + 3600)
    os.environ["HIGGSML_DATA_DIR"] = str(scratch / "data")  # read when modules.paths is first imported
    os.environ["HIGGSML_RESULTS_DIR"] = str(scratch / "results")
    os.environ["HIGGSML_WEIGHTS_DIR"] = str(scratch / "weights")
    record.data.update(mode="quick" if quick else "full", models=n_models, epochs=n_epochs,
                       check_epochs=check_epochs, patience_sub_epochs=patience, machine_seed_of=MACHINE,
                       scratch=str(scratch),
                       started=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    import modules  # noqa: F401  (mends LUMIN 0.9.1; import before LUMIN)
    from modules.experiment import lookup_machine

    record.data["versions"] = versions()
    record.save()
    print(json.dumps(record.data["versions"], indent=1), flush=True)

    from modules.batched.device import chosen_device, describe, synchronize

    seed = lookup_machine(MACHINE).seed
    device = chosen_device(args.device)  # before any work: CUDA asked for where there is none fails here
    state: dict[str, Any] = {}

    def data() -> dict[str, Any]:
        from modules.data import sources
        from modules.data.prepare import PrepareOptions, prepare
        from modules.data.simulation import simulate

        cores = os.cpu_count() or 1
        simulate.WORKERS = max(1, min(args.sim_workers or 8, cores))  # the events do not depend on the count
        started = time.perf_counter()
        source = sources.resolve("simulated", events=20_000 if quick else None)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        prepared = prepare(source, PrepareOptions(cat_feats=("PRI_jet_num",), seed=seed,
                                                  max_events=4000 if quick else None))
        state["prepared"] = prepared
        return {"source": source.description, "simulate_s": round(simulated, 2), "sim_workers": simulate.WORKERS,
                "prepare_s": round(time.perf_counter() - started, 2), "rows": prepared.rows}

    if record.stage("data", data) is None:
        return 1

    import numpy as np
    import torch

    from modules import training, tta
    from modules.folds import fold_yielder
    from modules.models.ensembles import load_ensemble

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_final_model import score  # the same AMS figures as the CPU benchmark

    cores = os.cpu_count() or 1
    torch.set_num_threads(args.threads or cores)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high" if args.tf32 else "highest")
    record.data["device"] = describe(device)
    record.save()
    prepared = state["prepared"]
    train_fy = fold_yielder(prepared.train, augment=True)
    builder = final_model(train_fy)
    work = scratch / "members"

    def warmup() -> dict[str, Any]:
        started = time.perf_counter()
        a = torch.randn(10, 256, 96, device=device)
        torch.bmm(a, a.transpose(1, 2)).sum().item()
        synchronize(device)
        return {"seconds": round(time.perf_counter() - started, 3)}

    record.stage("warmup", warmup)

    def train_on(where: Any, epochs: int, name: str, models: int = n_models, engine: str = "batched") -> Any:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        started = time.perf_counter()
        trained = training.train_ensemble(train_fy, builder, models, epochs, work / name, patience=patience,
                                          cb_partials=[onecycle(n_epochs)], seed=seed, resume=False, engine=engine,
                                          device=where)
        synchronize(device)
        return trained, time.perf_counter() - started

    def train() -> dict[str, Any]:
        trained, seconds = train_on(device, n_epochs, "device")
        state["trained"] = trained
        steps = max(sum(m.recorder.batches_per_epoch) for m in trained.members)  # stacked steps taken
        sub_epochs = max(m.epochs for m in trained.members)
        out = {"seconds": round(seconds, 2), "members": n_models, "epochs": n_epochs,
               "sub_epochs_trained": [m.epochs for m in trained.members], "stacked_steps": steps,
               "seconds_per_epoch": round(seconds / max(sub_epochs / 9, 1e-9), 3),
               "ms_per_step": round(1000 * seconds / max(steps, 1), 3),
               "best_val_loss": [float(m.result["loss"]) for m in trained.members],
               "best_val_ams": [float(m.result["AMS"]) for m in trained.members],
               "val_losses": losses(trained)}
        if device.type == "cuda":
            out["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1024**3, 3)
        return out

    if record.stage("train", train) is None:
        return 1
    ensemble = load_ensemble(state["trained"], builder)

    def predict_on(where: Any, members: Any = ensemble) -> tuple[Any, Any, dict[str, Any]]:
        started = time.perf_counter()
        val, val_s = tta.predict(members, prepared.val, device=where)
        test, test_s = tta.predict(members, prepared.test, device=where)
        return val, test, {"val_predict_s": round(val_s, 3), "test_predict_s": round(test_s, 3),
                           "val_events": len(val), "test_events": len(test),
                           "wall_s_with_reading": round(time.perf_counter() - started, 3)}

    def scored() -> dict[str, Any]:
        val, test, out = predict_on(device)
        state["val"], state["test"] = val, test
        return {**out, **{k: float(v) for k, v in score(test, val, prepared).items()}}

    record.stage("tta", scored)

    def tta_cpu() -> dict[str, Any]:
        val, test, out = predict_on(torch.device("cpu"))
        out["torch_threads"] = torch.get_num_threads()
        if "test" in state:
            out["max_abs_diff_val"] = float(np.abs(val.pred.to_numpy() - state["val"].pred.to_numpy()).max())
            out["max_abs_diff_test"] = float(np.abs(test.pred.to_numpy() - state["test"].pred.to_numpy()).max())
            out["device_speedup_test"] = round(out["test_predict_s"] / max(state_figure("tta", "test_predict_s"),
                                                                           1e-9), 2)
        return out

    def state_figure(stage: str, key: str) -> float:
        return float(record.data["stages"].get(stage, {}).get(key, float("nan")))

    record.stage("tta_cpu", tta_cpu, optional=True, reserve=args.reserve / 2)

    def lumin() -> dict[str, Any]:
        trained, seconds = train_on(device, check_epochs, "lumin", models=1, engine="lumin")
        from lumin.utils.misc import device as lumin_device

        theirs, mine = losses(trained), losses(state["trained"])[:1]
        per_epoch = state_figure("train", "seconds_per_epoch")
        return {"seconds": round(seconds, 2), "members": 1, "epochs": check_epochs, "lumin_device": str(lumin_device),
                "seconds_per_member_epoch": round(seconds / check_epochs, 3),
                "batched_seconds_per_member_epoch": round(per_epoch / n_models, 4),
                "val_losses": theirs, "batched_member0_val_losses": [v[:len(theirs[0])] for v in mine],
                "largest_relative_loss_difference": largest_relative(theirs, mine)}

    record.stage("lumin", lumin, optional=True, reserve=args.reserve)

    def train_cpu() -> dict[str, Any]:
        trained, seconds = train_on(torch.device("cpu"), check_epochs, "cpu")
        theirs = losses(trained)
        per_epoch = state_figure("train", "seconds_per_epoch")
        return {"seconds": round(seconds, 2), "members": n_models, "epochs": check_epochs,
                "torch_threads": torch.get_num_threads(), "seconds_per_epoch": round(seconds / check_epochs, 3),
                "device_seconds_per_epoch": round(per_epoch, 3), "val_losses": theirs,
                "largest_relative_loss_difference": largest_relative(theirs, losses(state["trained"]))}

    record.stage("train_cpu", train_cpu, optional=True, reserve=args.reserve)

    def train_cpu_full() -> dict[str, Any]:
        trained, seconds = train_on(torch.device("cpu"), n_epochs, "cpu_full")
        val, test, out = predict_on(device, load_ensemble(trained, builder))
        out.update({k: float(v) for k, v in score(test, val, prepared).items()})
        if "test" in state:
            out["max_abs_diff_test_vs_device_ensemble"] = float(
                np.abs(test.pred.to_numpy() - state["test"].pred.to_numpy()).max())
        return {"seconds": round(seconds, 2), "members": n_models, "epochs": n_epochs,
                "torch_threads": torch.get_num_threads(), "device_seconds": state_figure("train", "seconds"),
                "sub_epochs_trained": [m.epochs for m in trained.members],
                "best_val_loss": [float(m.result["loss"]) for m in trained.members],
                "largest_relative_best_loss_difference": largest_relative(
                    [[float(m.result["loss"])] for m in trained.members],
                    [[v] for v in record.data["stages"].get("train", {}).get("best_val_loss", [])]),
                "tta_on_device": out}

    # The whole training on the CPU as well, where the checks' pace says it fits in what is left.
    estimate = state_figure("train_cpu", "seconds_per_epoch") * n_epochs * 1.2 + 30  # NaN without the checks
    record.data["train_cpu_full_estimate_s"] = None if math.isnan(estimate) else round(estimate, 1)
    record.stage("train_cpu_full", train_cpu_full, optional=True,
                 reserve=math.inf if math.isnan(estimate) else estimate + 20)
    train_fy.close()
    record.data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    record.save()
    return 0 if not record.data["errors"] else 2


if __name__ == "__main__":
    sys.exit(main())
