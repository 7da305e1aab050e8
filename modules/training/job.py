"""What every engine is given and what it offers: the job (one ensemble's training) and the engine interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modules.progress import Progress
from modules.training.member import Member


@dataclass(frozen=True)
class Job:
    """One ensemble's training as every engine needs it: data, model, callbacks, lengths, where and how seeded."""

    train_fy: Any
    model_builder: Any
    n_models: int
    n_epochs: int
    savepath: Path
    cb_partials: list[Callable[[], Any]]
    patience: int | None
    bs: int
    seed: int | None
    progress: Progress | None = None


class Engine(Protocol):
    """A way to train members: by name, with what the record says of it."""

    name: str

    def record(self) -> dict[str, Any]: ...

    def train(self, job: Job, todo: list[int]) -> dict[int, Member]: ...
