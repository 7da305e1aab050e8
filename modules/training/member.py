"""What training makes, whichever engine trains: the member record (kept on disk so an interrupted ensemble can reuse
it), the training's result, and the seeding that makes member i the same whichever members ran before it.

It imports no engine, so every engine can import it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modules import seeds
from modules.atomic import write_json, write_with
from modules.integrity import manifest
from modules.models.schedules import TrainingRecorder

BATCH_SIZE = 256


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member `member` in a run seeded with `seed` (independent streams per member)."""
    return seeds.derive(seed, member)


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
        """Write the schedule atomically as a compressed .npz."""
        arrays = {"lr": self.lr, "momentum": self.momentum, "batches_per_epoch": self.batches_per_epoch}
        write_with(path, lambda tmp: np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()}))

    @classmethod
    def load(cls, path: Path) -> Schedule | None:
        if not path.exists():
            return None
        with np.load(path) as saved:
            return cls(saved["lr"].tolist(), saved["momentum"].tolist(), saved["batches_per_epoch"].tolist())


def member_files(savepath: Path, index: int) -> list[Path]:
    """The files a finished member leaves beside its record: everything in `model_id_<i>/` (its weights, and any
    snapshots its callbacks saved) and its schedule."""
    folder = savepath / f"model_id_{index}"
    schedule = savepath / f"member_{index}_schedule.npz"
    return [p for p in folder.rglob("*") if p.is_file()] + ([schedule] if schedule.exists() else [])


def keep_member(member: Member, savepath: Path) -> None:
    """Save what a finished member needs to be reused: its schedule, then its record (the mark that it is done)
    holding the size and SHA-256 of each of its files, so a damaged member is found before it is reused."""
    recorder = member.recorder
    Schedule(recorder.lr, recorder.momentum, recorder.batches_per_epoch).save(
        savepath / f"member_{member.index}_schedule.npz")
    files = manifest(savepath, member_files(savepath, member.index))
    write_json(savepath / f"member_{member.index}.json", {**member.record(), "files": files})


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

    @property
    def vectorised_tta(self) -> bool:
        """Whether the ensemble is scored with the vectorised test-time augmentation (`modules.tta`): it is when
        the batched engine trained it, so a run that trains fast also predicts fast."""
        return self.config.get("engine") == "batched"
