"""Benchmark: the final model trained and scored the study's way against this project's fastest way, on the same
prepared data in one run.

(a) the study's way: members trained one after another with LUMIN's `train_models` over `HEPAugFoldYielder` folds
    (torch threads as the machine is configured), then LUMIN's test-time augmentation;
(a') the same training with the members as tasks on a local Dask cluster of one single-threaded worker per core
    (skip with --no-dask); the training ratio is taken against the faster of (a) and (a');
(b) the fastest way here: every member trained at once by the batched engine, then the chunked test-time
    augmentation (`modules.tta`), both with one torch thread per core.

Both start each member from the same weights and feed it the same batches, so their members and scores should agree
(to float precision at first; a long training may drift as far as any two runs of one training on different
hardware). The script prints wall times, peak memory, the ratios b/a, both ensembles' validation and test AMS, how
far apart the members' validation losses are, and the training throughput as a fraction of this machine's measured
large-matrix-multiply FLOP/s. The records go to a temporary folder, never to results/.

    python benchmarks/bench_final_model.py --machine epyc2 [--models 10] [--epochs 15] [--quick] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

NAME = "13_swish_ensemble_embed_aug_onecycle_dense"


def matmul_flops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """This machine's float32 matrix-multiply throughput with `threads` torch threads, in FLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def peak_memory_gb() -> float:
    """The largest resident set this process reached."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def score(table: Any, cut_table: Any, prepared: Any) -> dict[str, float]:
    """Validation AMS at the chosen cut, public AMS, and the public AMS's mean over the test folds."""
    from modules import scoring

    factor = scoring.count_scales(prepared.rows).get("val", prepared.weight_scale["val"])  # as modules.evaluation
    cut = scoring.choose_cut(cut_table.pred.to_numpy(), cut_table.gen_target.to_numpy(),
                             cut_table.gen_weight_original.to_numpy(), wgt_factor=factor)
    scale = {k: v for k, v in prepared.weight_scale.items() if k in ("public", "private")}
    scale.update(scoring.count_scales(prepared.rows, table))
    scale.pop("val", None)
    public = scoring.score_test_per_fold(table, cut.cut, scale)["test_public_ams_mean"]
    return {"val_ams_smooth": cut.ams_at_cut, "test_public_ams": scoring.score_test(table, cut.cut, scale)[
        "test_public_ams"], "test_public_ams_mean": public[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machine", default="local")
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--quick", action="store_true", help="a few thousand events")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--no-dask", action="store_true",
                        help="skip training (a) a second time as tasks on a local Dask cluster, one worker per core")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_final_model_"))
    os.environ["HIGGSML_RESULTS_DIR"] = str(scratch)  # read when modules.paths is first imported
    os.environ["HIGGSML_WEIGHTS_DIR"] = str(scratch / "weights")

    import numpy as np
    import torch

    from modules import evaluation, paths, training, tta
    from modules.experiment import lookup_machine
    from modules.models.describe import parameter_count
    from modules.models.ensembles import load_ensemble
    from modules.models.original import OneCycle
    from modules.runner import run_in_process

    cores = os.cpu_count() or 1
    threads = lookup_machine(args.machine).torch_threads or cores
    namespace = run_in_process(paths.NOTEBOOKS_DIR / NAME / f"{NAME}.ipynb",
                               {"MACHINE": args.machine, "DATASET": args.dataset, "QUICK": args.quick, "FRESH": True},
                               until="model_builder =")
    run, train_fy, builder = namespace["run"], namespace["train_fy"], namespace["model_builder"]
    onecycle = partial(OneCycle, lengths=(45 * args.epochs // 15 or 1, 90 * args.epochs // 15 or 1),
                       lr_range=[1e-4, 1e-2], mom_range=(0.85, 0.95), interp="cosine")
    seed, prepared, work = run.experiment.seed, run.prepared, scratch / "members"
    print(f"{run.source.description}\n{args.models} members x {args.epochs} epochs; machine {args.machine} "
          f"(seed {seed}); {cores} cores; load {os.getloadavg()[0]:.2f}", flush=True)

    torch.set_num_threads(threads)
    started = time.perf_counter()
    study = training.train_ensemble(train_fy, builder, args.models, args.epochs, work / "a", cb_partials=[onecycle],
                                    seed=seed, resume=False)
    a_train = time.perf_counter() - started
    ensemble_a = load_ensemble(study, builder)
    started = time.perf_counter()
    val_a, _ = evaluation.predict(ensemble_a, prepared.val, tta=True, workdir=work)
    test_a, _ = evaluation.predict(ensemble_a, prepared.test, tta=True, workdir=work)
    a_tta = time.perf_counter() - started
    print(f"(a) done: training {a_train:.1f} s, inference {a_tta:.1f} s; load {os.getloadavg()[0]:.2f}", flush=True)

    dask_train = float("nan")
    if not args.no_dask:  # the study's loop with members as tasks on one single-threaded worker per core
        started = time.perf_counter()
        spread = training.train_ensemble(train_fy, builder, args.models, args.epochs, work / "dask",
                                         cb_partials=[onecycle], seed=seed, resume=False, scheduler="local")
        dask_train = time.perf_counter() - started  # the cluster's start and close included: a user pays them too
        pairs = zip(spread.members, study.members, strict=True)
        dask_diff = max(abs(m.result["loss"] / n.result["loss"] - 1) for m, n in pairs)
        print(f"(a') done: training on {cores} Dask workers {dask_train:.1f} s (cluster start and close included); "
              f"members' best validation losses differ from (a)'s by at most {dask_diff:.1e}", flush=True)
    use_dask = not args.no_dask and dask_train < a_train
    best_train, best_name = (dask_train, "(a')") if use_dask else (a_train, "(a)")

    torch.set_num_threads(cores)
    started = time.perf_counter()
    fast = training.train_ensemble(train_fy, builder, args.models, args.epochs, work / "b", cb_partials=[onecycle],
                                   seed=seed, resume=False, engine="batched")
    b_train = time.perf_counter() - started
    ensemble_b = load_ensemble(fast, builder)
    started = time.perf_counter()
    val_b, _ = tta.predict(ensemble_b, prepared.val)
    test_b, _ = tta.predict(ensemble_b, prepared.test)
    b_tta = time.perf_counter() - started

    steps = sum(sum(m.recorder.batches_per_epoch) for m in study.members)
    flops_per_step = 6 * parameter_count(builder) * training.BATCH_SIZE  # forward 2, backward 4 per weight and event
    peak = matmul_flops(cores)
    rows = [("training (s)", a_train, b_train), ("test-time-augmented inference, val + test (s)", a_tta, b_tta)]
    if not args.no_dask:
        rows.insert(1, ("training, (a) on Dask workers (s)", dask_train, b_train))
    print(f"\n{'':48} {'(a) study':>12} {'(b) fastest':>12} {'b/a':>6}")
    for label, a, b in rows:
        print(f"{label:48} {a:12.2f} {b:12.2f} {b / a:6.3f}")  # a quick check's (b) takes hundredths of a second
    print(f"training: (b) / the faster of the study's two ways, {best_name}: {b_train / best_train:.3f}")
    scores_a, scores_b = score(test_a, val_a, prepared), score(test_b, val_b, prepared)
    for metric in scores_a:
        print(f"{metric:48} {scores_a[metric]:12.4f} {scores_b[metric]:12.4f}")
    loss_a = np.array([m.result["loss"] for m in study.members])
    loss_b = np.array([m.result["loss"] for m in fast.members])
    print(f"\nmembers' best validation loss, (a): {' '.join(f'{v:.5e}' for v in loss_a)}\n"
          f"                                (b): {' '.join(f'{v:.5e}' for v in loss_b)}\n"
          f"largest relative difference {np.abs(loss_b / loss_a - 1).max():.2e}; spread of (a) over members "
          f"{loss_a.std(ddof=1) / loss_a.mean():.2e} (relative standard deviation)")
    print(f"largest |prediction a - b|: val {abs(val_a.pred - val_b.pred).max():.2e}, "
          f"test {abs(test_a.pred - test_b.pred).max():.2e}")
    for label, seconds in (("(a)", a_train), ("(b)", b_train)):
        print(f"training throughput {label}: {steps * flops_per_step / seconds / 1e9:.2f} GFLOP/s = "
              f"{steps * flops_per_step / seconds / peak:.1%} of the measured matmul {peak / 1e9:.1f} GFLOP/s "
              f"({cores} threads)")
    print(f"peak resident memory: {peak_memory_gb():.2f} GB")


if __name__ == "__main__":
    main()
