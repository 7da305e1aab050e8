"""LUMIN's loop with each member a task on a Dask cluster's workers (`modules.cluster` connects): the same members as
sequential training, since each is seeded on its own from the run's seed and its index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.folds import fold_yielder
from modules.training.job import Job
from modules.training.loop import train_member
from modules.training.member import Member, keep_member


class OnCluster:
    """Members as tasks on the workers of a Dask `client`; their records come back as they finish."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client

    def record(self) -> dict[str, Any]:
        return {"engine": "lumin", "workers": len(self.client.scheduler_info()["workers"])}

    def train(self, job: Job, todo: list[int]) -> dict[int, Member]:
        import cloudpickle
        from dask.distributed import as_completed
        from lumin.nn.data.fold_yielder import HEPAugFoldYielder

        if job.seed is None:
            raise ValueError("members trained on a cluster need a seed (each is seeded from it and its index)")
        augment = isinstance(job.train_fy, HEPAugFoldYielder)
        lumin_objects = cloudpickle.dumps((job.model_builder, job.cb_partials))
        futures = [self.client.submit(train_member_task, str(job.train_fy.foldfile.filename), augment, lumin_objects,
                                      i, job.n_epochs, job.savepath, job.patience, job.bs, job.seed,
                                      key=f"member-{i}-{job.savepath.name}-{job.seed}", pure=False)
                   for i in todo]
        done: dict[int, Member] = {}
        for future in as_completed(futures):
            member = Member.from_record(future.result(), job.savepath)
            member.reused = False
            done[member.index] = member
            if job.progress is not None:
                job.progress.member_done(member.seconds)
            print(f"member {member.index + 1}/{job.n_models} (on a worker): {member.epochs} sub-epochs, validation "
                  f"loss {member.result['loss']:.4e}, {member.seconds:.1f} s", flush=True)
        return done


def train_member_task(fold_path: str, augment: bool, lumin_objects: bytes, index: int, n_epochs: int,
                      savepath: Path, patience: int | None, bs: int, seed: int | None) -> dict[str, Any]:
    """One member trained on a cluster's worker: it opens the fold file itself (read-only), keeps the member beside
    its weights as sequential training does, and returns the member's record. The ModelBuilder and callbacks come
    pickled, to be unpacked here, where importing this module has applied the LUMIN mends (a scheduler never needs
    LUMIN)."""
    import cloudpickle

    model_builder, cb_partials = cloudpickle.loads(lumin_objects)
    train_fy = fold_yielder(Path(fold_path), augment=augment)
    try:
        member = train_member(train_fy, model_builder, index, n_epochs, Path(savepath), cb_partials, patience, bs,
                              seed)
    finally:
        train_fy.close()
    keep_member(member, Path(savepath))
    return member.record()
