"""One ensemble member inside the batched engine: LUMIN's own schedule and early-stopping callbacks driven on a
stand-in for LUMIN's `Model`, and the member's data stream drawn exactly as LUMIN's training would draw it.

The callbacks are the ones LUMIN's training runs (LUMIN's 1cycle, cosine annealing, cyclic LR and momentum, with
snapshot saving; the study's 1cycle and 0.5.1's early stopping from `modules.models.original`), so every learning
rate, momentum, snapshot and stopping decision is the same as there. The stand-in answers what they ask of a model
(`fit_params`, `set_lr`, `set_mom`, `save`) and keeps the values for the batched optimiser. SWA needs the weights, so
the engine runs it on the stacked weights with the same clock (`original.SWAClock`).

The stream repeats LUMIN's draws for a member seeded with `training.seed_everything(s)`: first the augmentation of
the validation fold (LUMIN loads it once, augmented, before training), then the fold order from its private shuffle
generator (drawn once and kept, as 0.5.1 did) and per fold the augmentation's angles and flips and the batch order
from NumPy's global generator, in LUMIN's order. The member therefore sees the same batches of the same augmented
events as when LUMIN trains it alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from modules.batched.network import Unsupported


def check_callbacks(cb_partials: list[Callable[[], Any]]) -> tuple[list[Callable[[], Any]], Any]:
    """Split the callbacks into LUMIN's LR/momentum schedules (snapshot saving included), which each member's driver
    runs, and the study's SWA (or None), which the engine runs itself; `Unsupported` for any other callback."""
    from lumin.nn.callbacks.cyclic_callbacks import AbsCyclicCallback

    from modules.models.original import SWA

    schedules, swa = [], None
    for factory in cb_partials:
        callback = factory()
        if isinstance(callback, AbsCyclicCallback):
            schedules.append(factory)
        elif type(callback) is SWA and swa is None:
            swa = callback
        else:
            raise Unsupported(f"callback {type(callback).__name__} (the batched engine takes LR and momentum "
                              "schedules (constant LR, 1cycle, cosine annealing, cyclic LR, with or without snapshot "
                              "saving) and the study's SWA)")
    return schedules, swa


class BatchLoss:
    """What a LUMIN callback reads as `fit_params.loss_val` (`.data.item()`): one member's loss on the batch just
    trained, read from the stacked losses only when asked (snapshot saving records it)."""

    def __init__(self, losses: Any, member: int) -> None:
        self.losses, self.member = losses, member

    @property
    def data(self) -> BatchLoss:
        return self

    def item(self) -> float:
        return float(self.losses[self.member])


class Driver:
    """The stand-in model of one member: runs its LUMIN callbacks and holds the LR and momentum they set."""

    def __init__(self, index: int, fy: Any, bs: int, cb_partials: list[Callable[[], Any]], patience: int | None,
                 lr: float, mom: float, saver: Callable[[Any], None] | None = None, savepath: Any = None) -> None:
        from lumin.nn.callbacks.cyclic_callbacks import AbsCyclicCallback

        from modules.models.original import EarlyStopping, set_cycle_lengths

        self.index, self.lr, self.mom, self.saver = index, lr, mom, saver
        self.callbacks = [factory() for factory in cb_partials]
        if patience is not None:
            self.callbacks.append(EarlyStopping(patience=patience))
        n_folds = fy.n_folds
        self.val_idx = index % n_folds
        self.metric_log = SimpleNamespace(val_epoch_results=None)
        self.fit_params = SimpleNamespace(
            state="train", stop=False, epoch=0, sub_epoch=0, fy=fy, bs=bs, val_idx=self.val_idx,
            trn_idxs=[j for j in range(n_folds) if j != self.val_idx], metric_log=self.metric_log,
            cyclic_cbs=[c for c in self.callbacks if isinstance(c, AbsCyclicCallback)], loss_cbs=[],
            cb_savepath=savepath, loss_val=None)
        self.saves_cycles = any(getattr(c, "cycle_save", False) for c in self.callbacks)
        self.lr_history: list[float] = []
        self.mom_history: list[float] = []
        for callback in self.callbacks:
            callback.set_model(self)
        self._call("on_train_begin")
        set_cycle_lengths(self.fit_params.cyclic_cbs, fy, bs)

    # What LUMIN's callbacks call on a Model
    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)

    def set_mom(self, mom: float) -> None:
        self.mom = float(mom)

    def get_lr(self) -> float:
        return self.lr

    def get_mom(self) -> float:
        return self.mom

    def save(self, path: Any) -> None:
        """A snapshot callback saves the member's current state (the engine writes it as LUMIN's Model file)."""
        if self.saver is None:
            raise RuntimeError(f"member {self.index}: a callback saved a snapshot, but the engine gave no saver")
        self.saver(path)

    @property
    def stopped(self) -> bool:
        return bool(self.fit_params.stop)

    def _call(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)()

    def epoch_begins(self, fold_order: list[int]) -> None:
        self.fit_params.state, self.fit_params.trn_idxs = "train", fold_order
        self.fit_params.epoch += 1
        self._call("on_epoch_begin")

    def fold_begins(self, fold: int) -> None:
        self.fit_params.sub_epoch += 1
        self.fit_params.trn_idx = fold
        self._call("on_fold_begin")

    def batch_begins(self) -> None:
        self._call("on_batch_begin")

    def batch_ends(self) -> None:
        self.lr_history.append(self.lr)
        self.mom_history.append(self.mom)
        self._call("on_batch_end")

    def fold_ends(self) -> None:
        self._call("on_fold_end")

    def training_epoch_ends(self) -> None:
        self._call("on_epoch_end")

    def validated(self, losses: list[float]) -> None:
        """The validation pass of this epoch gave `losses` (the model's, then SWA's if it runs): LUMIN's callbacks
        see them (early stopping may act)."""
        self.fit_params.state = "valid"
        self.metric_log.val_epoch_results = (np.array(losses), None)
        for hook in ("on_epoch_begin", "on_fold_begin", "on_fold_end", "on_epoch_end"):
            self._call(hook)

    def train_ends(self) -> None:
        self._call("on_train_end")


class Stream:
    """The batches member `index` trains on, drawn as LUMIN draws them after `seed_everything(member_seed)`."""

    def __init__(self, fy: Any, member_seed: int, n_folds: int, val_idx: int) -> None:
        self.fold_order = random.Random(member_seed)
        self.numpy = np.random.RandomState(member_seed)
        self.trn_idxs = [j for j in range(n_folds) if j != val_idx]
        self.order: list[int] | None = None
        self.done = 0
        self.augment = bool(getattr(fy, "augmented", False))
        self.rotate = self.augment and bool(fy.rot_mult)
        self.reflect_axes = list(fy.reflect_axes) if self.augment else []

    def validation_draws(self, n_events: int) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """The augmentation of the validation fold: LUMIN loads it through the same augmenting yielder once, before
        the first epoch, and validates on that one augmented copy throughout."""
        angles = 2 * np.pi * self.numpy.random(size=n_events) - np.pi if self.rotate else None
        return angles, [self.numpy.randint(0, 2, size=n_events) for _ in self.reflect_axes]

    def next_fold(self) -> int:
        """The next sub-epoch's training fold: the order LUMIN draws first (its first shuffle of the training folds),
        repeated on every pass as 0.5.1 repeated it."""
        if self.order is None:
            self.fold_order.shuffle(self.trn_idxs)
            self.order = list(self.trn_idxs)
        fold = self.order[self.done % len(self.order)]
        self.done += 1
        return fold

    def draw(self, n_events: int, bs: int) -> tuple[np.ndarray | None, list[np.ndarray], np.ndarray]:
        """For one fold of `n_events`: rotation angles (or None), one 0/1 flip array per reflected axis, and the
        event indices of its full batches in order (LUMIN drops the last, partial batch)."""
        angles = 2 * np.pi * self.numpy.random(size=n_events) - np.pi if self.rotate else None
        flips = [self.numpy.randint(0, 2, size=n_events) for _ in self.reflect_axes]
        order = np.arange(n_events)
        self.numpy.shuffle(order)
        return angles, flips, order[:n_events // bs * bs]


def augment(inputs: np.ndarray, feats: list[str], angles: np.ndarray | None, flips: list[np.ndarray],
            reflect_axes: list[str]) -> np.ndarray:
    """LUMIN's train-time augmentation of one fold with the given draws: every momentum vector rotated in phi by
    its event's angle, then the flagged coordinates reflected, computed in float64 as LUMIN's pandas code does.

    `inputs` are float64 with undefined (NaN) values already set to 0 (LUMIN zeroes them after augmenting; an
    undefined vector has every component undefined, and a rotated or reflected zero is zero, so the order does not
    matter)."""
    index = {f: i for i, f in enumerate(feats)}
    vectors = [f[:-3] for f in feats if "_px" in f]
    x = inputs.copy()
    if angles is not None:
        cos, sin = np.cos(angles), np.sin(angles)
        for vector in vectors:
            px, py = index[f"{vector}_px"], index[f"{vector}_py"]
            x[:, px], x[:, py] = inputs[:, px] * cos - inputs[:, py] * sin, inputs[:, py] * cos + inputs[:, px] * sin
    for coord, flip in zip(reflect_axes, flips, strict=True):
        sign = 1 - 2 * flip
        for vector in vectors:
            column = index.get(f"{vector}{coord}")
            if column is not None:
                x[:, column] *= sign
    return x.astype(np.float32)
