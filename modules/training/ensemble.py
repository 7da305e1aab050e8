"""`train_ensemble`: the one entry point from a notebook (or the search) to trained members. It finds what an
interrupted run finished, picks the engine, trains the rest, closes what it opened and writes what was done into
the record."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules import cluster
from modules.models.describe import describe_partial
from modules.models.original import SUB_EPOCHS_PER_EPOCH
from modules.progress import Progress
from modules.training.engines import choose
from modules.training.job import Job
from modules.training.member import BATCH_SIZE, Training
from modules.training.resume import fingerprint, finished_members, prepare_folder


def train_ensemble(train_fy: Any, model_builder: Any, n_models: int, n_epochs: int, savepath: Path,
                   cb_partials: list[Callable[[], Any]] | None = None, patience: int | None = None,
                   bs: int = BATCH_SIZE, seed: int | None = None, resume: bool = True,
                   progress: Progress | None = None, client: Any = None, engine: str = "lumin",
                   scheduler: str | None = None, device: Any = None, what: str = "this ensemble") -> Training:
    """Train `n_models` members, each on all folds but its own validation fold, for up to `n_epochs` passes over
    its nine training folds, validated after every fold as LUMIN 0.5.1 did.

    Models are selected by validation loss (the study's choice; the AMS is only tracked). With `seed`, member i is
    seeded from (seed, i), so it comes out the same whichever members ran before it; then, with `resume`, members an
    interrupted run finished under the same fingerprint are reused and only the rest are trained (a member is
    finished once its record `member_<i>.json` is written beside its weights; a half-trained one is trained again).
    Without `seed`, the generators run on from their current state, and nothing is reused.

    `engine='lumin'` trains the members one after another, or as tasks on Dask workers: those of `client`, or of a
    cluster this call connects to on `scheduler` ('local' or an address) and closes at the end. `engine='batched'`
    trains the members still to train all at once on `device` (see `modules.batched`); where it cannot train the
    model or its callbacks it says why (naming `what`) and LUMIN trains them.
    `seconds` is the wall time of the training plus the training time of any reused member.
    """
    savepath = Path(savepath)
    job = Job(train_fy, model_builder, n_models, n_epochs, savepath, list(cb_partials or []), patience, bs, seed,
              progress)
    if scheduler is not None and client is not None:
        raise ValueError("give a Dask scheduler or a client, not both")
    if scheduler is not None and engine == "batched":
        raise ValueError("the batched engine runs in this process: give it no Dask scheduler or client")
    opened = cluster.connect(scheduler) if scheduler is not None and engine == "lumin" else None
    try:
        trainer = choose(engine, job, client if opened is None else opened, device, what)
        record = trainer.record()
        resume = resume and seed is not None
        prepare_folder(savepath, fingerprint(train_fy, model_builder, n_epochs, job.cb_partials, patience, bs, seed,
                                             record["engine"]), resume)
        members = finished_members(savepath, n_models) if resume else {}
        reused = sorted(members)
        clock_started = time.perf_counter()
        members.update(trainer.train(job, [i for i in range(n_models) if i not in members]))
        seconds = time.perf_counter() - clock_started + sum(members[i].seconds for i in reused)
    finally:
        if opened is not None:
            cluster.close(opened)
    ordered = [members[i] for i in range(n_models)]
    config = {"engine": record["engine"], "n_models": n_models, "n_epochs": n_epochs, "batch_size": bs,
              "patience": patience, "seed": seed, "callbacks": [describe_partial(cb) for cb in job.cb_partials],
              "sub_epochs_per_epoch": SUB_EPOCHS_PER_EPOCH,
              "sub_epochs_trained": [m.epochs for m in ordered], "member_seconds": [m.seconds for m in ordered],
              "reused_members": reused, "workers": record["workers"]}
    return Training(ordered, seconds, savepath, config)
