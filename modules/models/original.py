"""The study's training as LUMIN 0.5.1 ran it, rebuilt on LUMIN 0.9.1: the published numbers came from 0.5.1, whose
training loop (`fold_train_ensemble`) and callbacks behaved differently from 0.9.1's in ways that change results.

- **Sub-epochs.** 0.5.1 trained on one of the nine training folds at a time (a sub-epoch), then validated; it kept the
  best state, stopped early and counted every schedule length in sub-epochs. The member's fold order was shuffled once
  and kept for every pass. `SubEpochs` makes each LUMIN 0.9.1 epoch one such sub-epoch; cyclic callbacks count their
  length in batches of one fold, fold 0's, as 0.5.1's `set_nb` did.
- **Early stopping** (`EarlyStopping`): patience counts sub-epochs without improvement, or, with a cyclic schedule,
  cycle ends since the last improvement (0.9.1 counts whole cycles without one, which can stop a cycle later).
- **Best state** (`BestState`): the state with the lowest validation loss (or SWA's average, when lower) is kept,
  ties going to the later state.
- **1cycle** (`OneCycle`): 0.5.1's `Model.set_mom` tested `'betas' in opt.param_groups`, a list of dicts, so it never
  reached Adam's beta1: every published 1cycle run kept beta1 = 0.9 while the learning rate cycled; and its members
  after the first warmed up from LR 0 (0.5.1 overwrote `lr_range[0]` in the list the members shared).
- **SWA** (`SWA`): averages counted in sub-epochs (or cycle ends), and the two running averages compared on the
  validation fold (0.9.1 compares them on the last training fold's batches).
- **Snapshot ensembles** (`snapshot_states`): the best state plus the `n_cycles` cycle-end states before it, with
  cycles numbered from 1 as 0.5.1 saved them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from lumin.nn.callbacks.callback import Callback
from lumin.nn.callbacks.cyclic_callbacks import OneCycle as LuminOneCycle

SUB_EPOCHS_PER_EPOCH = 9
"""A sub-epoch is one training fold; each member trains on 9 of the 10 folds."""


def batches_per_sub_epoch(fy: Any, bs: int) -> int:
    """The batches 0.5.1 took a sub-epoch to have, for every schedule: those of fold 0 (LUMIN drops a last partial
    batch)."""
    return int(fy.get_data_count(0)) // bs


def set_cycle_lengths(cyclic_cbs: list[Any], fy: Any, bs: int) -> None:
    """Give each cyclic callback 0.5.1's batches per cycle: its `scale` (1cycle: its first length) sub-epochs of
    fold 0's batches."""
    nb = batches_per_sub_epoch(fy, bs)
    for callback in cyclic_cbs:
        callback.nb = callback.scale * nb


class SubEpochs(Callback):
    """Makes every LUMIN 0.9.1 epoch one sub-epoch of the study: the member's next training fold, then validation.

    Must come first among the callbacks, so that the schedules see one fold and 0.5.1's cycle lengths. The fold order
    is the one LUMIN drew for the first pass, kept for every later pass as 0.5.1 kept it."""

    def on_train_begin(self) -> None:
        super().on_train_begin()
        self.order: list[int] | None = None
        self.done = 0

    def on_epoch_begin(self) -> None:
        params = self.model.fit_params
        if params.state != "train":
            return
        if self.order is None:
            self.order = list(params.trn_idxs)
            set_cycle_lengths(params.cyclic_cbs, params.fy, params.bs)
        params.trn_idxs = [self.order[self.done % len(self.order)]]
        self.done += 1


class EarlyStopping(Callback):
    """0.5.1's early stopping: after `patience` sub-epochs without a lower validation loss (SWA's included), or with
    a cyclic schedule after `patience` cycle ends since the last improvement."""

    def __init__(self, patience: int) -> None:
        super().__init__()
        self.patience = patience

    def on_train_begin(self) -> None:
        super().on_train_begin()
        cyclic = self.model.fit_params.cyclic_cbs
        self.cyclic = cyclic[-1] if cyclic else None
        self.best, self.waited = math.inf, 0

    def on_epoch_end(self) -> None:
        params = self.model.fit_params
        if params.state != "valid":
            return
        loss = float(np.nanmin(params.metric_log.val_epoch_results[0]))
        if loss <= self.best:
            self.best, self.waited = loss, 0
        elif self.cyclic is None or self.cyclic.cycle_end:
            self.waited += 1
        if self.waited >= self.patience:
            params.stop = True


class BestState(Callback):
    """Keeps the state with the lowest validation loss so far (ties: the later one), or SWA's average when its loss is
    lower, in `best.h5`, and reloads it at the end of training."""

    def on_train_begin(self) -> None:
        super().on_train_begin()
        self.best, self.sub_epoch = math.inf, 0

    def on_epoch_end(self) -> None:
        params = self.model.fit_params
        if params.state != "valid":
            return
        losses = np.asarray(params.metric_log.val_epoch_results[0], dtype=float)
        which = int(np.nanargmin(losses))
        if losses[which] <= self.best:
            self.best, self.sub_epoch = float(losses[which]), params.epoch
            source = self.model if which == 0 else params.loss_cbs[which - 1].test_model
            source.save(params.cb_savepath / "best.h5")

    def on_train_end(self) -> None:
        self.model.load(self.model.fit_params.cb_savepath / "best.h5")


class OneCycle(LuminOneCycle):
    """1cycle as the published runs had it, with two LUMIN 0.5.1 behaviours kept.

    Adam's beta1 is left where it is (0.9): 0.5.1's `set_mom` never reached it, so `mom_range` was asked for but not
    applied (`cycle_beta1=True` cycles it as the paper describes). And from an ensemble's second member on, the
    warm-up starts from LR 0 rather than `lr_range[0]`: 0.5.1's OneCycle set `lr_range[0] = 0` half-way through, in
    the very list the notebook's `partial` handed to every member, so each later member of the training began at 0.
    """

    def __init__(self, lengths: tuple[int, int], lr_range: list[float], mom_range: tuple[float, float] = (0.85, 0.95),
                 interp: str = "cosine", cycle_beta1: bool = False) -> None:
        super().__init__(lengths=lengths, lr_range=lr_range, mom_range=mom_range, interp=interp)
        self.cycle_beta1 = cycle_beta1

    def on_train_begin(self) -> None:
        super().on_train_begin()
        if self.model.fit_params.val_idx:  # member i validates on fold i: every member but the first
            self.lr_range[0] = 0.0

    def on_batch_begin(self) -> None:
        kept = self.model.get_mom()
        super().on_batch_begin()
        if not self.cycle_beta1:
            self.model.set_mom(kept)


class ValidationData(Callback):
    """Keeps the validation batches LUMIN built for this training (the fold augmented once), for scoring the best
    state afterwards as 0.5.1 did."""

    def on_train_begin(self) -> None:
        super().on_train_begin()
        self.by = None

    def on_fold_begin(self) -> None:
        if self.model.fit_params.state == "valid" and self.by is None:
            self.by = self.model.fit_params.by


class SWAClock:
    """When LUMIN 0.5.1's SWA averaged and compared, apart from any weights, so that the LUMIN callback (`SWA`) and the
    batched engine count alike: from `start_epoch` on, the state at every counted sub-epoch end (every one, or only
    cycle ends) joins the average; once `renewal_period` have, a second average starts, and whenever it has run
    `renewal_period` (times the renewals since the last replacement) the two are compared and the worse replaced."""

    def __init__(self, start_epoch: int, renewal_period: int = -1) -> None:
        self.start_epoch, self.renewal_period = start_epoch, renewal_period
        self.epoch, self.swa_n, self.n_since_renewal, self.since_replacement = 0, 0, 0, 1
        self.first_completed = False

    def sub_epoch_ends(self, counts: bool) -> tuple[tuple[int, int | None] | None, bool]:
        """A training sub-epoch ended (`counts`: it is one SWA counts). Returns how to average (the weight of the old
        average, and that of the second one or None when it is not updated; None: no averaging) and whether to
        compare the two averages now (then call `compared`)."""
        average, compare = None, False
        if self.epoch >= self.start_epoch and counts:
            renew = self.swa_n > self.renewal_period and self.first_completed and self.renewal_period > 0
            average = (self.swa_n, self.n_since_renewal if renew else None)
            self.swa_n += 1
            if self.swa_n > self.renewal_period:
                self.first_completed = True
                self.n_since_renewal += 1
                compare = self.renewal_period > 0 and \
                    self.n_since_renewal > self.since_replacement * self.renewal_period
        if counts:
            self.epoch += 1
        return average, compare

    def compared(self, new_is_better: bool) -> None:
        """The comparison's outcome: the second average replaced the first, or was itself restarted."""
        if new_is_better:
            self.swa_n, self.n_since_renewal, self.since_replacement = self.n_since_renewal, 1, 1
        else:
            self.n_since_renewal = 1
            self.since_replacement += 1


def running_average(average: Any, current: Any, n: Any) -> Any:
    """Fold `current` into the average of `n` states in place, in LUMIN's order of operations (times n, plus the
    state, over n + 1), so that both engines round alike; `n` may be one count per row of stacked members."""
    average *= n
    average += current
    average /= n + 1
    return average


class SWA(ValidationData):
    """Stochastic weight averaging as LUMIN 0.5.1 ran it (`SWAClock`): averages counted in sub-epochs or, with a
    cyclic schedule, cycle ends, and the two averages compared on the validation fold. Its validation loss is offered
    as an alternative to the live model's (`get_loss`, `test_model`). It compares on the validation batches it keeps
    as `ValidationData` does."""

    def __init__(self, start_epoch: int, renewal_period: int = -1, update_on_cycle_end: bool | None = None) -> None:
        super().__init__()
        self.start_epoch, self.renewal_period = start_epoch, renewal_period
        self.update_on_cycle_end = update_on_cycle_end

    def on_train_begin(self) -> None:
        import torch
        from lumin.nn.models.model import Model

        super().on_train_begin()
        cyclic = self.model.fit_params.cyclic_cbs
        self.cyclic = cyclic[-1] if cyclic else None
        self.on_cycles = self.cyclic is not None if self.update_on_cycle_end is None else self.update_on_cycle_end
        self.clock = SWAClock(self.start_epoch, self.renewal_period)
        self.weights = copy.deepcopy(self.model.get_weights())
        self.weights_new = copy.deepcopy(self.model.get_weights())
        with torch.random.fork_rng():  # building it must not move the generators training draws from
            self.test_model = Model(self.model.model_builder)
        self.test_model.loss = copy.deepcopy(self.model.loss)
        self.loss = None

    def on_epoch_begin(self) -> None:
        if self.model.fit_params.state == "train":
            self.loss = None

    def on_epoch_end(self) -> None:
        if self.model.fit_params.state != "train":
            return
        average, compare = self.clock.sub_epoch_ends(not self.on_cycles or self.cyclic.cycle_end)
        if average is not None:
            current = self.model.get_weights()
            for name in self.weights:
                running_average(self.weights[name], current[name], average[0])
                if average[1] is not None:
                    running_average(self.weights_new[name], current[name], average[1])
        if compare:
            self._compare()

    def _evaluate(self, weights: dict[str, Any]) -> float:
        if self.by is None:
            raise RuntimeError("SWA compared its averages before the first validation")
        self.test_model.set_weights(weights)
        return float(self.test_model.evaluate(self.by))

    def _compare(self) -> None:
        if self.loss is None:
            self.loss = self._evaluate(self.weights)
        new_loss = self._evaluate(self.weights_new)
        better = new_loss < self.loss
        if better:
            self.loss = new_loss
            self.weights = copy.deepcopy(self.weights_new)
        else:
            self.test_model.set_weights(self.weights)
        self.clock.compared(better)
        self.weights_new = copy.deepcopy(self.model.get_weights())

    def get_loss(self) -> float:
        """The validation loss of the (older) average."""
        if self.loss is None:
            self.loss = self._evaluate(self.weights)
        return self.loss


def snapshot_states(n_cycles_done: int, patience: int, n_cycles: int, weighting_pwr: float,
                    load_cycles_only: bool = False) -> list[tuple[int | None, float]]:
    """Which states 0.5.1's `Ensemble` loaded for one member of a snapshot ensemble, and their weights before
    normalisation: the best state (None, weight 1) unless `load_cycles_only`, then cycle-end states counted back from
    the cycle before the best one (cycles numbered from 1; the n-th back weighs (n + 2) ** weighting_pwr). The best
    cycle is taken to be the last completed one minus the early-stopping patience."""
    states: list[tuple[int | None, float]] = [] if load_cycles_only else [(None, 1.0)]
    last = n_cycles_done - patience - (0 if load_cycles_only else 1)
    for n, cycle in enumerate(range(last, max(0, last - n_cycles), -1)):
        states.append((cycle, float((n + 1 if load_cycles_only else n + 2) ** weighting_pwr)))
    return states
