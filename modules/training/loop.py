"""Training an ensemble the study's way, one member at a time: member i validates on fold i and trains on the other
nine as LUMIN 0.5.1 trained it (sub-epochs, see `modules.models.original`), so an interrupted ensemble can be resumed
and members can run as separate tasks. Each member is seeded from the run's seed and its index, so it is the same
whichever members ran before it.

The notebook keeps the experiment's own choices (the ModelBuilder, the callbacks, the number of models and epochs).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from lumin.nn.callbacks.callback import Callback

from modules import scoring
from modules.atomic import write_json
from modules.batched import ENGINES, chosen_engine
from modules.folds import fold_yielder, n_events
from modules.models import original
from modules.models.original import SUB_EPOCHS_PER_EPOCH
from modules.models.schedules import TrainingRecorder
from modules.progress import Progress
from modules.quiet import silenced
from modules.timing import timer

BATCH_SIZE = 256
TRAINING = "LUMIN 0.5.1's loop: sub-epochs, 0.5.1 early stopping and best state"
"""What kind of training loop made a member: part of the fingerprint, so members of an older loop are not reused."""

def pick_engine(model_builder: Any, cb_partials: list[Callable[[], Any]] | None, what: str) -> str:
    """The engine HIGGSML_ENGINE asks for, unless it is `batched` and the batched engine cannot train this model
    with these callbacks: then LUMIN, saying why."""
    engine = chosen_engine()
    if engine == "batched":
        from modules.batched.engine import unsupported

        reason = unsupported(model_builder, list(cb_partials or []))
        if reason is not None:
            print(f"the batched engine cannot train {what}: {reason}; training with LUMIN", flush=True)
            return "lumin"
    return engine


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member `member` in a run seeded with `seed` (independent streams per member)."""
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed every generator LUMIN training draws from: fold order (its own, see compat), batches and augmentation
    (NumPy), weight initialisation and dropout (torch), and Python's for anything else."""
    import torch

    from modules.compat import FOLD_ORDER

    random.seed(seed)
    FOLD_ORDER.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Member:
    """One trained ensemble member: LUMIN's result and loss history, its cycle losses (cyclic schedules), the
    callbacks it trained with (SWA's averages, the recorder's LR history, ...), its epochs and wall time. A member
    reused from an interrupted run has its record but no callbacks."""

    index: int
    result: dict[str, Any]
    history: Any
    cycle_losses: list[float]
    callbacks: list[Any]
    seconds: float
    epochs: int
    """Sub-epochs trained (one training fold each)."""
    reused: bool = False
    schedule: Schedule | None = None
    """For a reused member, the LR and momentum it trained with, read back from disk."""

    @property
    def recorder(self) -> TrainingRecorder | Schedule:
        """The LR and momentum at every step and the steps of each epoch (live, or as saved for a reused member or
        one the batched engine trained)."""
        live = next((c for c in self.callbacks if isinstance(c, TrainingRecorder)), None)
        if live is None and self.schedule is not None:
            return self.schedule
        return self.callback(TrainingRecorder)

    def callback(self, kind: type) -> Any:
        """The member's callback of class `kind` (e.g. LUMIN's SWA)."""
        found = next((c for c in self.callbacks if isinstance(c, kind)), None)
        if found is None:
            raise LookupError(f"member {self.index} has no {kind.__name__} callback"
                              + (" (it was reused from an interrupted run)" if self.reused else ""))
        return found

    def record(self) -> dict[str, Any]:
        """What is kept on disk beside the member's weights, so an interrupted ensemble can reuse it."""
        result = {**self.result, "path": Path(self.result["path"]).name}
        return {"index": self.index, "result": result, "history": self.history, "cycle_losses": self.cycle_losses,
                "seconds": self.seconds, "epochs": self.epochs}

    @classmethod
    def from_record(cls, record: dict[str, Any], savepath: Path) -> Member:
        """A member from what was saved beside its weights (by an earlier run, or by a worker of a cluster)."""
        result = {**record["result"], "path": savepath / record["result"]["path"]}
        schedule = Schedule.load(savepath / f"member_{record['index']}_schedule.npz")
        return cls(record["index"], result, record["history"], record["cycle_losses"], [], record["seconds"],
                   record["epochs"], reused=True, schedule=schedule)


@dataclass
class Schedule:
    """What a TrainingRecorder saw, as kept on disk beside a finished member."""

    lr: list[float]
    momentum: list[float]
    batches_per_epoch: list[int]

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez_compressed(tmp, lr=np.asarray(self.lr), momentum=np.asarray(self.momentum),
                            batches_per_epoch=np.asarray(self.batches_per_epoch))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Schedule | None:
        if not path.exists():
            return None
        with np.load(path) as saved:
            return cls(saved["lr"].tolist(), saved["momentum"].tolist(), saved["batches_per_epoch"].tolist())


@dataclass
class Training:
    """What `train_ensemble` returns: every member, the total wall time, where the weights are, and the record."""

    members: list[Member]
    seconds: float
    savepath: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> list[dict[str, Any]]:
        """LUMIN's per-member results (validation loss, AMS, path), as `Ensemble.from_results` takes them."""
        return [m.result for m in self.members]

    @property
    def cycle_losses(self) -> list[list[float]]:
        return [m.cycle_losses for m in self.members]


class _Reporter(Callback):
    """Tells a Progress about each finished epoch (nine sub-epochs) with the last validation loss, read once LUMIN's
    MetricLogger, which runs before this callback, has computed it."""

    def __init__(self, progress: Progress, member: int, n_members: int, n_epochs: int) -> None:
        super().__init__()
        self.progress, self.member, self.n_members, self.n_epochs, self.sub_epochs = (progress, member, n_members,
                                                                                        n_epochs, 0)

    def _report(self) -> None:
        results = getattr(self.model.fit_params.metric_log, "val_epoch_results", None)
        loss = float(np.asarray(results[0]).ravel()[0]) if results is not None else None
        done = -(-self.sub_epochs // SUB_EPOCHS_PER_EPOCH)
        self.progress.epoch_done(self.member, self.n_members, done, self.n_epochs, loss)

    def on_epoch_end(self) -> None:
        if self.model.fit_params.state == "valid":
            self.sub_epochs += 1
            if self.sub_epochs % SUB_EPOCHS_PER_EPOCH == 0:
                self._report()

    def on_train_end(self) -> None:
        if self.sub_epochs % SUB_EPOCHS_PER_EPOCH:
            self._report()


def validation_ams(model: Any, by: Any, fy: Any, val_idx: int) -> float:
    """The AMS 0.5.1 reported for a trained member: LUMIN's quick AMS scan of its predictions on the (augmented)
    validation fold it was validated on, with the original weights scaled to the whole training set."""
    fold = fy.foldfile[f"fold_{val_idx}"]
    weights = fold["gen_weight_original"][()] if "gen_weight_original" in fold else fold["weights"][()]
    pred = np.asarray(model.predict(by.inputs)).reshape(-1)
    return max_ams(pred, fold["targets"][()].reshape(-1), weights.reshape(-1), n_events(fy))


def max_ams(pred: np.ndarray, target: np.ndarray, weight: np.ndarray, n_total: int) -> float:
    """LUMIN's AMS metric on a validation fold (`ams_scan_quick`: the best AMS of cutting above each event's
    prediction, weights scaled to the whole training set) with cumulative sums instead of a loop over events."""
    order = np.argsort(pred, kind="quicksort")  # the sort pandas' sort_values does
    signal = np.where(target[order] == 1, weight[order], 0.0).astype(np.float64)
    background = np.where(target[order] == 0, weight[order], 0.0).astype(np.float64)
    s = signal.sum() - np.r_[0.0, np.cumsum(signal)[:-1]]
    b = background.sum() - np.r_[0.0, np.cumsum(background)[:-1]]
    factor = n_total / len(pred)
    s, b = np.clip(s, 0, None) * factor, np.clip(b, 0, None) * factor
    values = np.where(b > 0, scoring.ams(s, np.where(b > 0, b, 1.0), scoring.BR), -1.0)
    return float(max(0.0, values.max()))


def member_callbacks(cb_partials: list[Callable[[], Any]], patience: int | None) -> tuple[list[Any], dict[str, Any]]:
    """The callbacks of one member's training in the order they must run, and the ones read afterwards by name:
    sub-epochs first (the schedules must see one fold), the experiment's own, the recorder, LUMIN's MetricLogger, then
    0.5.1's best-state keeping and early stopping, which read the validation losses the logger has just computed."""
    from lumin.nn.callbacks.monitors import MetricLogger

    own = [factory() for factory in cb_partials]
    named = {"recorder": TrainingRecorder(), "log": MetricLogger(show_plots=False), "best": original.BestState(),
             "validation": original.ValidationData()}
    stopping = [] if patience is None else [original.EarlyStopping(patience)]
    callbacks = [original.SubEpochs(), *own, named["recorder"], named["log"], named["best"], *stopping,
                 named["validation"]]
    return callbacks, {**named, "own": own}


def train_member(train_fy: Any, model_builder: Any, index: int, n_epochs: int, savepath: Path,
                 cb_partials: list[Callable[[], Any]], patience: int | None, bs: int, seed: int | None,
                 progress: Progress | None = None, n_members: int = 1) -> Member:
    """Train ensemble member `index` (validation fold `index` mod the number of folds) as LUMIN 0.5.1's
    `fold_train_ensemble` did, with LUMIN 0.9.1's `Model.fit`: up to `n_epochs` passes over its nine training folds,
    validated after every fold (`modules.models.original`), and its best state saved as `model_id_<i>/train_<i>.h5`."""
    from lumin.nn.models.model import Model

    if seed is not None:
        seed_everything(member_seed(seed, index))
    folder = savepath / f"model_id_{index}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    val_idx = index % train_fy.n_folds
    trn_idxs = [j for j in range(train_fy.n_folds) if j != val_idx]
    model = Model(model_builder)
    callbacks, named = member_callbacks(cb_partials, patience)
    if progress is not None:
        progress.member_begins(index, n_members, n_epochs)
        callbacks.append(_Reporter(progress, index, n_members, n_epochs))
    with timer() as clock, silenced():
        model.fit(n_epochs=n_epochs * len(trn_idxs), fy=train_fy, bs=bs, trn_idxs=trn_idxs, val_idx=val_idx,
                  cbs=callbacks, cb_savepath=folder)
        model.save(folder / f"train_{index}.h5")
        ams = validation_ams(model, named["validation"].by, train_fy, val_idx)
    losses, _ = named["log"].get_loss_history()
    history = ({name: [float(v) for v in values] for name, values in losses.items()}, {})
    cycle_losses = next((list(c.cycle_losses) for c in named["own"] if getattr(c, "cycle_save", False)), [])
    result = {"loss": named["best"].best, "AMS": ams, "path": folder}
    return Member(index, result, history, cycle_losses, [*named["own"], named["recorder"]], clock["seconds"],
                  len(named["recorder"].batches_per_epoch))


def fingerprint(train_fy: Any, model_builder: Any, n_epochs: int, cb_partials: list[Callable[[], Any]],
                patience: int | None, bs: int, seed: int | None, engine: str = "lumin") -> str:
    """A hash of everything that decides what a member becomes: data file, model, callbacks, epochs, patience,
    batch size, seed and (other than LUMIN's) engine. Saved members are reused only under the same fingerprint."""
    from modules.models.describe import describe_model

    payload = {"data": str(Path(train_fy.foldfile.filename).resolve()), "model": describe_model(model_builder),
               "callbacks": [describe_partial(cb) for cb in cb_partials], "n_epochs": n_epochs, "patience": patience,
               "batch_size": bs, "seed": seed, "training": TRAINING}
    if engine != "lumin":
        payload["engine"] = engine
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _start(savepath: Path, key: str, resume: bool) -> None:
    """Keep the saved members of an earlier run with the same fingerprint; otherwise start from an empty folder."""
    state = savepath / "ensemble.json"
    if resume and state.exists():
        try:
            if json.loads(state.read_text()).get("fingerprint") == key:
                return
        except ValueError:
            pass
        print(f"the members saved in {savepath} were trained differently: starting afresh", flush=True)
    if savepath.exists():
        shutil.rmtree(savepath)
    write_json(state, {"fingerprint": key})


def train_ensemble(train_fy: Any, model_builder: Any, n_models: int, n_epochs: int, savepath: Path,
                   cb_partials: list[Callable[[], Any]] | None = None, patience: int | None = None,
                   bs: int = BATCH_SIZE, seed: int | None = None, resume: bool = True,
                   progress: Progress | None = None, client: Any = None, engine: str = "lumin") -> Training:
    """Train `n_models` members one after another, each on all folds but its own validation fold, for up to
    `n_epochs` passes over its nine training folds, validated after every fold as LUMIN 0.5.1 did.

    Models are selected by validation loss (the study's choice; the AMS is only tracked). With `seed`, member i is
    seeded from (seed, i), so it comes out the same whichever members ran before it; then, with `resume`, members an
    interrupted run finished under the same fingerprint are reused and only the rest are trained (a member is
    finished once its record `member_<i>.json` is written beside its weights; a half-trained one is trained again).
    Without `seed`, the generators run on from their current state, and nothing is reused. With a Dask `client` the
    members are trained as tasks on its workers (the same members, since each is seeded on its own). With
    `engine='batched'` the members still to train are trained all at once (see `modules.batched`; it needs a seed and
    one of the networks and schedules it supports).
    `seconds` is the wall time of this call plus the training time of any reused member.
    """
    savepath = Path(savepath)
    cb_partials = list(cb_partials or [])
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "batched" and (seed is None or client is not None):
        raise ValueError("the batched engine needs a seed and runs in this process (no Dask client)")
    resume = resume and seed is not None
    _start(savepath, fingerprint(train_fy, model_builder, n_epochs, cb_partials, patience, bs, seed, engine), resume)
    members: dict[int, Member] = {}
    for i in range(n_models):
        record, weights = savepath / f"member_{i}.json", savepath / f"model_id_{i}" / f"train_{i}.h5"
        if resume and record.exists() and weights.exists():
            members[i] = Member.from_record(json.loads(record.read_text()), savepath)
            print(f"member {i + 1}/{n_models}: reused from the interrupted run ({members[i].epochs} sub-epochs, "
                  f"validation loss {members[i].result['loss']:.4e})", flush=True)
    todo = [i for i in range(n_models) if i not in members]
    reused = sorted(members)
    clock_started = time.perf_counter()
    if client is not None:
        members.update(_on_cluster(client, train_fy, model_builder, todo, n_models, n_epochs, savepath, cb_partials,
                                   patience, bs, seed, progress))
    if engine == "batched" and todo:
        members.update(_batched(train_fy, model_builder, todo, n_models, n_epochs, savepath, cb_partials, patience,
                                bs, seed, progress))
    for i in todo if client is None and engine == "lumin" else []:
        member = train_member(train_fy, model_builder, i, n_epochs, savepath, cb_partials, patience, bs, seed,
                              progress, n_models)
        _keep_member(member, savepath)
        if progress is not None:
            progress.member_done(member.seconds)
        print(f"member {i + 1}/{n_models}: {member.epochs} sub-epochs, validation loss {member.result['loss']:.4e}, "
              f"{member.seconds:.1f} s", flush=True)
        members[i] = member
    ordered = [members[i] for i in range(n_models)]
    config = {"engine": engine, "n_models": n_models, "n_epochs": n_epochs, "batch_size": bs, "patience": patience,
              "seed": seed, "callbacks": [describe_partial(cb) for cb in cb_partials],
              "sub_epochs_per_epoch": SUB_EPOCHS_PER_EPOCH,
              "sub_epochs_trained": [m.epochs for m in ordered], "member_seconds": [m.seconds for m in ordered],
              "reused_members": reused,
              "workers": None if client is None else len(client.scheduler_info()["workers"])}
    seconds = time.perf_counter() - clock_started + sum(members[i].seconds for i in reused)
    return Training(ordered, seconds, savepath, config)


def _batched(train_fy: Any, model_builder: Any, todo: list[int], n_models: int, n_epochs: int, savepath: Path,
             cb_partials: list[Callable[[], Any]], patience: int | None, bs: int, seed: int,
             progress: Progress | None) -> dict[int, Member]:
    """Train the members `todo` together with the batched engine and keep each as sequential training does; each
    member's time is an equal share of the whole."""
    from modules.batched import engine

    with timer() as clock, silenced():
        trained = engine.train(train_fy, model_builder, todo, n_epochs, savepath, cb_partials, patience, bs,
                               [member_seed(seed, i) for i in todo], progress, n_models)
    for member in trained:
        member.seconds = clock["seconds"] / len(trained)
        _keep_member(member, savepath)
        print(f"member {member.index + 1}/{n_models} (batched): {member.epochs} sub-epochs, validation loss "
              f"{member.result['loss']:.4e}", flush=True)
    if progress is not None:
        progress.member_done(clock["seconds"])
    print(f"{len(trained)} members trained together in {clock['seconds']:.1f} s", flush=True)
    return {member.index: member for member in trained}


def _keep_member(member: Member, savepath: Path) -> None:
    """Save what a finished member needs to be reused: its schedule, then its record (the mark that it is done)."""
    recorder = member.recorder
    Schedule(recorder.lr, recorder.momentum, recorder.batches_per_epoch).save(
        savepath / f"member_{member.index}_schedule.npz")
    write_json(savepath / f"member_{member.index}.json", member.record())


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
    _keep_member(member, Path(savepath))
    return member.record()


def _on_cluster(client: Any, train_fy: Any, model_builder: Any, todo: list[int], n_models: int, n_epochs: int,
                savepath: Path, cb_partials: list[Callable[[], Any]], patience: int | None, bs: int,
                seed: int | None, progress: Progress | None) -> dict[int, Member]:
    """Train the members `todo` as tasks on a Dask cluster; their records come back as they finish."""
    import cloudpickle
    from dask.distributed import as_completed
    from lumin.nn.data.fold_yielder import HEPAugFoldYielder

    if seed is None:
        raise ValueError("members trained on a cluster need a seed (each is seeded from it and its index)")
    augment = isinstance(train_fy, HEPAugFoldYielder)
    lumin_objects = cloudpickle.dumps((model_builder, cb_partials))
    futures = [client.submit(train_member_task, str(train_fy.foldfile.filename), augment, lumin_objects, i, n_epochs,
                             savepath, patience, bs, seed, key=f"member-{i}-{savepath.name}-{seed}", pure=False)
               for i in todo]
    done: dict[int, Member] = {}
    for future in as_completed(futures):
        member = Member.from_record(future.result(), savepath)
        member.reused = False
        done[member.index] = member
        if progress is not None:
            progress.member_done(member.seconds)
        print(f"member {member.index + 1}/{n_models} (on a worker): {member.epochs} sub-epochs, validation loss "
              f"{member.result['loss']:.4e}, {member.seconds:.1f} s", flush=True)
    return done


def describe_partial(p: Any) -> str:
    """A readable one-liner for a functools.partial of a callback, for the results JSON."""
    if not isinstance(p, partial):
        return getattr(p, "__name__", repr(p))
    args = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    return f"{p.func.__name__}({', '.join(args)})"
