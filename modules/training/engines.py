"""The ways to train an ensemble's members, one small class each behind one interface: `name`, `record` (what the
results JSON says of it) and `train(job, todo)`, which trains the members `todo` and returns them by index, each
already kept on disk. `choose` turns a notebook's ENGINE and SCHEDULER into one of them."""

from __future__ import annotations

from typing import Any

from modules.quiet import silenced
from modules.timing import timer
from modules.training.cluster_engine import OnCluster
from modules.training.job import Engine, Job
from modules.training.loop import train_member
from modules.training.member import Member, keep_member, member_seed

ENGINES = ("lumin", "batched")
"""`lumin`: the study's way, LUMIN's loop member by member (on a Dask cluster with a scheduler); `batched`: all
members at once."""


class Sequential:
    """LUMIN's loop, one member after another in this process: the study's way."""

    name = "lumin"

    def record(self) -> dict[str, Any]:
        return {"engine": "lumin", "workers": None}

    def train(self, job: Job, todo: list[int]) -> dict[int, Member]:
        done = {}
        for i in todo:
            member = train_member(job.train_fy, job.model_builder, i, job.n_epochs, job.savepath, job.cb_partials,
                                  job.patience, job.bs, job.seed, job.progress, job.n_models)
            keep_member(member, job.savepath)
            if job.progress is not None:
                job.progress.member_done(member.seconds)
            print(f"member {i + 1}/{job.n_models}: {member.epochs} sub-epochs, validation loss "
                  f"{member.result['loss']:.4e}, {member.seconds:.1f} s", flush=True)
            done[i] = member
        return done


class Batched:
    """Every member still to train at once, as one stacked computation on `device` (see `modules.batched`); each
    member's time is an equal share of the whole."""

    name = "batched"

    def __init__(self, device: Any = None) -> None:
        self.device = device

    def record(self) -> dict[str, Any]:
        return {"engine": "batched", "workers": None}

    def train(self, job: Job, todo: list[int]) -> dict[int, Member]:
        from modules.batched import engine

        if not todo:
            return {}
        with timer() as clock, silenced():
            trained = engine.train(job.train_fy, job.model_builder, todo, job.n_epochs, job.savepath,
                                   job.cb_partials, job.patience, job.bs, [member_seed(job.seed, i) for i in todo],
                                   job.progress, job.n_models, self.device)
        for member in trained:
            member.seconds = clock["seconds"] / len(trained)
            keep_member(member, job.savepath)
            print(f"member {member.index + 1}/{job.n_models} (batched): {member.epochs} sub-epochs, validation loss "
                  f"{member.result['loss']:.4e}", flush=True)
        if job.progress is not None:
            job.progress.member_done(clock["seconds"])
        print(f"{len(trained)} members trained together in {clock['seconds']:.1f} s", flush=True)
        return {member.index: member for member in trained}


def batched_or_reason(job: Job) -> str | None:
    """Why the batched engine cannot train this job's model with its callbacks, or None if it can."""
    from modules.batched.engine import unsupported

    return unsupported(job.model_builder, list(job.cb_partials))


def choose(engine: str, job: Job, client: Any = None, device: Any = None, what: str = "this ensemble") -> Engine:
    """The engine to train `job` with: `engine` ('lumin' or 'batched'); LUMIN's on the Dask `client`'s workers when
    one is given; `batched` falls back to LUMIN, saying why, where it cannot train the model or its callbacks."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "batched":
        if client is not None:
            raise ValueError("the batched engine runs in this process: give it no Dask scheduler or client")
        if job.seed is None:
            raise ValueError("the batched engine needs a seed (each member is seeded from it and its index)")
        reason = batched_or_reason(job)
        if reason is None:
            return Batched(device)
        print(f"the batched engine cannot train {what}: {reason}; training with LUMIN", flush=True)
    return Sequential() if client is None else OnCluster(client)
