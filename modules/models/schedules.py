"""Recording what the optimiser actually did (learning rate and momentum at every step, the training fold of every
sub-epoch) so schedules can be plotted and tested.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from lumin.nn.callbacks.callback import Callback


class TrainingRecorder(Callback):
    """What the optimiser did: LR and momentum (Adam's beta1) after every training step, the steps of each epoch,
    and the weights of the last step (taken before LUMIN's SaveBest reloads the best state)."""

    def __init__(self) -> None:
        super().__init__()
        self.lr: list[float] = []
        self.momentum: list[float] = []
        self.batches_per_epoch: list[int] = []
        self.folds: list[int] = []
        """The training fold of every sub-epoch, in order."""
        self.last_weights: dict[str, Any] | None = None
        self._batches = 0

    def on_epoch_begin(self) -> None:
        if self.model.fit_params.state == "train":
            self._batches = 0

    def on_fold_begin(self) -> None:
        if self.model.fit_params.state == "train":
            self.folds.append(int(self.model.fit_params.trn_idx))

    def on_batch_end(self) -> None:
        if self.model.fit_params.state != "train":
            return
        group = self.model.opt.param_groups[0]
        self.lr.append(float(group["lr"]))
        self.momentum.append(float(group["betas"][0] if "betas" in group else group.get("momentum", np.nan)))
        self._batches += 1

    def on_epoch_end(self) -> None:
        if self.model.fit_params.state == "train":
            self.batches_per_epoch.append(self._batches)

    def on_train_end(self) -> None:
        # Callbacks given to train_models run before its SaveBest, so this is still the last step's state.
        self.last_weights = copy.deepcopy(self.model.get_weights())


def plot_schedule(recorder: TrainingRecorder, stem: Path) -> list[Path]:
    """The learning rate and momentum one member trained with, step by step, with sub-epoch boundaries marked; saved
    as PNG and PDF at `stem`."""
    import matplotlib.pyplot as plt

    from modules import plots

    with plots.style():
        fig, (ax_lr, ax_mom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
        ax_lr.plot(recorder.lr)
        ax_mom.plot(recorder.momentum)
        for boundary in np.cumsum(recorder.batches_per_epoch)[:-1]:
            for ax in (ax_lr, ax_mom):
                ax.axvline(boundary, color="grey", linewidth=0.5, alpha=0.5)
        ax_lr.set_ylabel("Learning rate")
        ax_mom.set_ylabel(r"Momentum ($\beta_1$)")
        ax_mom.set_xlabel("Training step (grey lines: sub-epochs)")
        written = plots.save_figure(fig, stem)
        plt.show()
        plt.close(fig)
    return written
