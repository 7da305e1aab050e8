"""The batched engine: every ensemble member trained at once as one stacked computation, each on its own nine folds
with its own batches, schedule and Adam state, then written back as LUMIN `Model`s so that ensembles, saving and
prediction stay LUMIN's.

Member i starts from the weights LUMIN would give it (the `Model` is built after the same seeding), draws the same
batches of the same augmented events (see `member.Stream`), follows LUMIN's own callbacks for its learning rate,
momentum and early stopping, and is validated on fold i after every sub-epoch (one training fold), as LUMIN 0.5.1
trained; the state with the lowest validation loss is kept (`modules.models.original`). What differs from LUMIN is
only the order of floating-point sums inside the stacked products, so a member's losses agree with LUMIN's to float
precision at first and drift apart only as far as any two runs of one training on different hardware would.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modules.batched.device import chosen_device, from_host
from modules.batched.member import BatchLoss, Driver, Stream, augment, check_callbacks
from modules.batched.network import StackedNetwork, Unsupported
from modules.folds import n_events
from modules.models.original import SUB_EPOCHS_PER_EPOCH, SWAClock, running_average
from modules.progress import Progress
from modules.training.loop import max_ams, snapshot_losses
from modules.training.member import Member, Schedule, seed_everything


class Adam:
    """torch's Adam (no AMSGrad) on the stacked parameters, with a learning rate, beta1 and step count per member."""

    def __init__(self, shape: torch.Size, beta2: float, eps: float, weight_decay: float,
                 device: torch.device | None = None) -> None:
        self.device = torch.device(device or "cpu")
        self.m, self.v = torch.zeros(shape, device=self.device), torch.zeros(shape, device=self.device)
        self.steps = np.zeros(shape[0], dtype=np.int64)
        self.beta2, self.eps, self.weight_decay = beta2, eps, weight_decay

    def step(self, theta: torch.Tensor, grad: torch.Tensor, lr: np.ndarray, beta1: np.ndarray,
             rows: np.ndarray | None = None) -> None:
        """Update `theta` with `grad` for every member, or only for the members `rows`."""
        if rows is not None:
            index = from_host(rows, self.device)
            sub_theta, sub_m, sub_v = theta[index], self.m[index], self.v[index]
            self._update(sub_theta, grad[index], sub_m, sub_v, lr[rows], beta1[rows], rows)
            theta[index], self.m[index], self.v[index] = sub_theta, sub_m, sub_v
            return
        self._update(theta, grad, self.m, self.v, lr, beta1, slice(None))

    def _update(self, theta: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, lr: np.ndarray,
                beta1: np.ndarray, rows: Any) -> None:
        self.steps[rows] += 1
        steps = self.steps[rows]
        if self.weight_decay:
            grad = grad.add(theta, alpha=self.weight_decay)
        # beta1, step size and sqrt(bias correction 2) per member, moved to the device in one copy per step
        factors = np.stack([beta1, lr / (1 - beta1**steps), np.sqrt(1 - self.beta2**steps)]).astype(np.float32)
        b1, step_size, root_bc2 = from_host(factors, self.device)[:, :, None]
        m.mul_(b1).add_(grad * (1 - b1))
        v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        theta.addcdiv_(m * step_size, v.sqrt().div_(root_bc2).add_(self.eps), value=-1)


def _optimiser_settings(model: Any) -> dict[str, Any]:
    """The Adam settings of a LUMIN Model, or `Unsupported` for any other optimiser."""
    if type(model.opt) is not torch.optim.Adam:
        raise Unsupported(f"optimiser {type(model.opt).__name__} (the batched engine has Adam)")
    group = model.opt.param_groups[0]
    if group.get("amsgrad") or group.get("maximize"):
        raise Unsupported("Adam with amsgrad or maximize")
    return {"lr": float(group["lr"]), "betas": tuple(group["betas"]), "eps": float(group["eps"]),
            "weight_decay": float(group["weight_decay"])}


def unsupported(model_builder: Any, cb_partials: list[Callable[[], Any]]) -> str | None:
    """Why the batched engine cannot train this model with these callbacks, or None if it can."""
    from lumin.nn.models.model import Model

    try:
        check_callbacks(cb_partials)
        model = Model(model_builder)
        _optimiser_settings(model)
        StackedNetwork([model.model])
    except Unsupported as reason:
        return str(reason)
    return None


def _folds(fy: Any) -> list[dict[str, np.ndarray]]:
    """Every fold of the file in memory: inputs (float64, undefined values as 0), targets, weights, original
    weights."""
    out = []
    for i in range(fy.n_folds):
        fold = fy.foldfile[f"fold_{i}"]
        weights = fold["weights"][()].reshape(-1)
        out.append({"inputs": np.nan_to_num(fold["inputs"][()].astype(np.float64)),
                    "targets": fold["targets"][()].reshape(-1), "weights": weights,
                    "gen_weight_original": fold["gen_weight_original"][()].reshape(-1)
                    if "gen_weight_original" in fold else weights})
    return out


def _bce(p: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """LUMIN's loss per event: weighted binary cross-entropy of the sigmoid output (logs clamped as torch's)."""
    return torch.nn.functional.binary_cross_entropy(p, y, weight=w, reduction="none")


def _bce_gradient(p: torch.Tensor, y: torch.Tensor, w: torch.Tensor, bs: int) -> torch.Tensor:
    """d(batch-mean weighted BCE)/d(logit), computed as torch's BCE and sigmoid backward passes compute it, so an
    event whose output has saturated to exactly 0 or 1 gives no gradient, as in LUMIN's training."""
    variance = (1 - p) * p
    return (p - y) / variance.clamp(min=1e-12) * (w / bs) * variance


class _SWA:
    """The study's SWA (`original.SWA`) for every member at once: the two running averages of each member as stacked
    weights, each member's clock, and the loss of its (older) average on its validation fold once known this
    sub-epoch."""

    def __init__(self, spec: Any, theta: torch.Tensor, drivers: list[Driver]) -> None:
        self.weights, self.weights_new = theta.clone(), theta.clone()
        self.clocks = [SWAClock(spec.start_epoch, spec.renewal_period) for _ in drivers]
        cyclic = [d.fit_params.cyclic_cbs[-1] if d.fit_params.cyclic_cbs else None for d in drivers]
        on_cycles = [c is not None if spec.update_on_cycle_end is None else spec.update_on_cycle_end for c in cyclic]
        self.cyclic = [c if on else None for c, on in zip(cyclic, on_cycles, strict=True)]
        self.loss: list[float | None] = [None] * len(drivers)


class _Run:
    """One batched training in progress: the stacked network and its optimiser, each member's driver (LUMIN's
    callbacks) and data stream, SWA's averages where it runs, the folds in memory, and what is recorded per
    member."""

    def __init__(self, fy: Any, model_builder: Any, indices: list[int], cb_partials: list[Callable[[], Any]],
                 patience: int | None, bs: int, seeds: list[int], device: Any = None,
                 savepath: Path | None = None) -> None:
        from lumin.nn.models.model import Model

        schedules, swa = check_callbacks(cb_partials)
        self.folders = [Path(savepath or ".") / f"model_id_{i}" for i in indices]
        if savepath is not None:  # a member trained afresh starts from an empty folder, as LUMIN's loop does
            for folder in self.folders:
                if folder.exists():
                    shutil.rmtree(folder)
                folder.mkdir(parents=True)
        self.models, rng_states = [], []
        for seed in seeds:  # each member's Model is built right after its seeding, as LUMIN's training builds it
            seed_everything(seed)
            self.models.append(Model(model_builder))
            rng_states.append(torch.get_rng_state())  # where its dropout draws start
        settings = _optimiser_settings(self.models[0])
        self.device = chosen_device(device)
        self.net = StackedNetwork([m.model for m in self.models], device=self.device)
        if self.net.dropout:
            self.net.use_generators(rng_states)
        self.fy, self.indices, self.bs, self.size = fy, indices, bs, len(indices)
        self.feats = fy.cont_feats + fy.cat_feats
        self.folds, self.n_total = _folds(fy), n_events(fy)
        self.drivers = [Driver(i, fy, bs, schedules, patience, settings["lr"], settings["betas"][0],
                               saver=self._saver(k), savepath=self.folders[k]) for k, i in enumerate(indices)]
        self.streams = [Stream(fy, seed, fy.n_folds, d.val_idx) for seed, d in zip(seeds, self.drivers, strict=True)]
        self.val = _validation_set(self.folds, self.feats, self.streams, [d.val_idx for d in self.drivers])
        self.val.update({key: self.val[key].to(self.device) for key in ("x", "targets", "weights")})
        self.adam = Adam(self.net.theta.shape, settings["betas"][1], settings["eps"], settings["weight_decay"],
                         self.device)
        self.best_theta, self.best_loss = self.net.theta.clone(), np.full(self.size, math.inf)
        self.best_ams, self.epochs = np.zeros(self.size), np.zeros(self.size, dtype=int)
        self.train_losses: list[list[float]] = [[] for _ in indices]
        self.val_losses: list[list[float]] = [[] for _ in indices]
        self.swa = None if swa is None else _SWA(swa, self.net.theta, self.drivers)
        self.swa_losses: list[list[float]] = [[] for _ in indices]
        self.averages = None if swa is None else StackedNetwork([m.model for m in self.models], device=self.device)
        """SWA's averages are evaluated on a second stacked network, whose weights are overwritten each time."""
        self.batches: list[list[int]] = [[] for _ in indices]
        self.live = np.ones(self.size, dtype=bool)
        """Members still training (not stopped by their callbacks)."""

    def train_sub_epoch(self) -> None:
        """One sub-epoch of every live member: its next training fold in its own order, batch by batch."""
        live = np.flatnonzero(self.live)
        folds = {int(k): self.streams[k].next_fold() for k in live}
        for k in live:
            self.drivers[k].epoch_begins([folds[k]])
            if self.swa is not None:
                self.swa.loss[k] = None
        n_batches = self._train_slot(folds, live)
        for k in live:
            self.drivers[k].fold_ends()
            self.drivers[k].training_epoch_ends()
            self.batches[k].append(int(n_batches[k]))
        if self.swa is not None:
            self._swa_sub_epoch_ends(live)

    def _saver(self, k: int) -> Callable[[Any], None]:
        """How member k's driver saves a snapshot: its current weights as LUMIN's Model file."""
        def save(path: Any) -> None:
            self.models[k].model.load_state_dict(self.net.state_dict(k))
            self.models[k].save(path)
        return save

    def _evaluate(self, theta: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Every member's validation loss and predictions with the weights `theta` (members, parameters)."""
        self.averages.theta.copy_(theta)
        return _validate(self.averages, self.val)

    def _swa_sub_epoch_ends(self, live: np.ndarray) -> None:
        """SWA after a training sub-epoch, as `original.SWA.on_epoch_end` for each live member: fold the state into
        the averages, then compare the two averages where the clock says so (all such members in one pass)."""
        swa, theta = self.swa, self.net.theta
        comparing = []
        for k in live:
            cyclic = swa.cyclic[k]
            average, compare = swa.clocks[k].sub_epoch_ends(cyclic is None or bool(cyclic.cycle_end))
            if average is not None:
                running_average(swa.weights[k], theta[k], average[0])
                if average[1] is not None:
                    running_average(swa.weights_new[k], theta[k], average[1])
            if compare:
                comparing.append(int(k))
        if not comparing:
            return
        old = self._evaluate(swa.weights)[0] if any(swa.loss[k] is None for k in comparing) else None
        new = self._evaluate(swa.weights_new)[0]
        for k in comparing:
            if swa.loss[k] is None:
                swa.loss[k] = float(old[k])
            better = float(new[k]) < swa.loss[k]
            if better:
                swa.loss[k] = float(new[k])
                swa.weights[k] = swa.weights_new[k]
            swa.clocks[k].compared(better)
            swa.weights_new[k] = theta[k]

    def _train_slot(self, folds: dict[int, int], active: np.ndarray) -> np.ndarray:
        """Each active member's training fold `folds[k]`; returns each member's number of batches."""
        bs = self.bs
        x, y, w, n_batches = _slot_data(self.folds, self.feats, self.streams, folds, active, bs, self.size)
        x, y, w = x.to(self.device), y.to(self.device), w.to(self.device)  # the whole fold at once, not per batch
        for k in active:
            self.drivers[k].fold_begins(folds[k])
        loss_sum = torch.zeros(self.size, device=self.device)
        for step in range(int(n_batches.max())):
            stepping = active[n_batches[active] > step]
            for k in stepping:
                self.drivers[k].batch_begins()
            lr, beta1 = np.array([d.lr for d in self.drivers]), np.array([d.mom for d in self.drivers])
            batch = slice(step * bs, (step + 1) * bs)
            logits, cache = self.net.forward(x[:, batch], keep=True, rows=stepping)
            p = torch.sigmoid(logits)
            self.net.backward(cache, _bce_gradient(p, y[:, batch], w[:, batch], bs))
            with torch.no_grad():
                batch_loss = _bce(p, y[:, batch], w[:, batch]).mean(1)
                loss_sum += batch_loss
            self.adam.step(self.net.theta, self.net.grad, lr, beta1, None if len(stepping) == self.size else stepping)
            for k in stepping:
                if self.drivers[k].saves_cycles:
                    self.drivers[k].fit_params.loss_val = BatchLoss(batch_loss, k)
                self.drivers[k].batch_ends()
        sums = loss_sum.cpu().numpy()
        for k in active:  # LUMIN's training loss of a fold: the mean of its batch losses
            self.train_losses[k].append(float(sums[k] / n_batches[k]))
        return n_batches

    def validate(self) -> float:
        """Every live member on its validation fold after a sub-epoch: record the loss (and SWA's), keep the best
        state (the lower of the two; ties: the later one, as 0.5.1) with the AMS LUMIN reported for it, and let its
        callbacks see the losses (early stopping). Returns the mean loss."""
        losses, preds = _validate(self.net, self.val)
        live = np.flatnonzero(self.live)
        candidates = [(losses, preds, self.net.theta)]
        if self.swa is not None:  # the average's loss, as SWA.get_loss gives it (known already after a comparison)
            swa_losses, swa_preds = self._evaluate(self.swa.weights)
            for k in live:
                if self.swa.loss[k] is None:
                    self.swa.loss[k] = float(swa_losses[k])
                swa_losses[k] = self.swa.loss[k]
                self.swa_losses[k].append(float(swa_losses[k]))
            candidates.append((swa_losses, swa_preds, self.swa.weights))
        for k in live:
            self.epochs[k] += 1
            self.val_losses[k].append(float(losses[k]))
            options = [float(c[0][k]) for c in candidates]
            which = int(np.nanargmin(options))
            if options[which] <= self.best_loss[k]:
                chosen_preds, chosen_theta = candidates[which][1], candidates[which][2]
                n_val = self.val["sizes"][k]
                self.best_loss[k] = options[which]
                self.best_ams[k] = max_ams(chosen_preds[k, :n_val], self.val["targets"][k, :n_val].cpu().numpy(),
                                           self.val["original"][k][:n_val], self.n_total)
                self.best_theta[k] = chosen_theta[k]
            self.drivers[k].validated(options)
            if self.drivers[k].stopped:
                self.live[k] = False
        return float(np.mean(losses))

    def save(self) -> list[Member]:
        """Each member's best state saved as LUMIN's `model_id_<i>/train_<i>.h5`, with what LUMIN's training would
        return for it (its time is left for the caller, which knows the whole run's)."""
        members = []
        for k, (i, model, driver) in enumerate(zip(self.indices, self.models, self.drivers, strict=True)):
            driver.train_ends()
            model.model.load_state_dict(self.net.state_dict(k, self.best_theta))
            folder = self.folders[k]
            folder.mkdir(parents=True, exist_ok=True)
            model.save(folder / f"train_{i}.h5")
            losses = {"Training": self.train_losses[k], "Validation": self.val_losses[k]}
            if self.swa is not None:
                losses["SWA"] = self.swa_losses[k]
            result = {"loss": float(self.best_loss[k]), "AMS": float(self.best_ams[k]), "path": folder}
            schedule = Schedule(driver.lr_history, driver.mom_history, self.batches[k])
            members.append(Member(i, result, (losses, {}), snapshot_losses(driver.callbacks), driver.callbacks, 0.0,
                                  int(self.epochs[k]), schedule=schedule))
        return members


def train(fy: Any, model_builder: Any, indices: list[int], n_epochs: int, savepath: Path,
          cb_partials: list[Callable[[], Any]], patience: int | None, bs: int, seeds: list[int],
          progress: Progress | None = None, n_members: int | None = None, device: Any = None) -> list[Member]:
    """Train the members `indices` (member i validates on fold i mod the number of folds) all at once, member i
    seeded with `seeds[k]` as LUMIN's training of it would be, and save each one's best state as LUMIN's
    `model_id_<i>/train_<i>.h5` under `savepath`. On `device` (see `device.chosen_device`: default HIGGSML_DEVICE,
    else the CPU)."""
    run = _Run(fy, model_builder, indices, cb_partials, patience, bs, seeds, device, savepath)
    n_members = n_members or len(indices)
    if progress is not None:  # the members advance together: shown as the last member, epoch by epoch
        progress.member_begins(n_members - 1, n_members, n_epochs)
    for sub_epoch in range(1, n_epochs * (fy.n_folds - 1) + 1):
        if not run.live.any():
            break
        run.train_sub_epoch()
        loss = run.validate()
        if progress is not None and (sub_epoch % SUB_EPOCHS_PER_EPOCH == 0 or not run.live.any()):
            progress.epoch_done(n_members - 1, n_members, -(-sub_epoch // SUB_EPOCHS_PER_EPOCH), n_epochs, loss)
    return run.save()


def _slot_data(folds: list[dict[str, np.ndarray]], feats: list[str], streams: list[Stream], chosen: dict[int, int],
               active: np.ndarray, bs: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Each active member's training fold `chosen[k]`, augmented and put in its batch order, stacked (members,
    events, features); members with fewer batches (or none) are padded with zero-weight events."""
    per_member, n_batches = {}, np.zeros(size, dtype=int)
    for k in active:
        fold = folds[chosen[k]]
        angles, flips, order = streams[k].draw(len(fold["inputs"]), bs)
        inputs = augment(fold["inputs"], feats, angles, flips, streams[k].reflect_axes)
        per_member[k] = (inputs[order], fold["targets"][order], fold["weights"][order])
        n_batches[k] = len(order) // bs
    x, y, w = _stack(per_member, size, int(n_batches.max()) * bs, len(feats))
    return x, y, w, n_batches


def _stack(per_member: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], size: int, length: int,
           n_feats: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Members' (inputs, targets, weights) as (members, length[, features]) tensors, zero-padded: a padded event
    has weight 0, so it adds nothing to a loss or a gradient."""
    x = np.zeros((size, length, n_feats), dtype=np.float32)
    y, w = np.zeros((size, length), dtype=np.float32), np.zeros((size, length), dtype=np.float32)
    for k, (inputs, targets, weights) in per_member.items():
        x[k, :len(inputs)], y[k, :len(inputs)], w[k, :len(inputs)] = inputs, targets, weights
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)


def _validation_set(folds: list[dict[str, np.ndarray]], feats: list[str], streams: list[Stream],
                    val_idxs: list[int]) -> dict[str, Any]:
    """Each member's validation fold, augmented once as LUMIN loads it, stacked and zero-padded."""
    sizes = [len(folds[i]["inputs"]) for i in val_idxs]
    per_member = {}
    for k, (i, stream) in enumerate(zip(val_idxs, streams, strict=True)):
        angles, flips = stream.validation_draws(sizes[k])
        inputs = augment(folds[i]["inputs"], feats, angles, flips, stream.reflect_axes)
        per_member[k] = (inputs, folds[i]["targets"], folds[i]["weights"])
    x, y, w = _stack(per_member, len(val_idxs), max(sizes), len(feats))
    return {"x": x, "targets": y, "weights": w, "sizes": sizes,
            "original": [folds[i]["gen_weight_original"] for i in val_idxs]}


def _validate(net: StackedNetwork, val: dict[str, Any], chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Every member's validation loss (LUMIN's: the weighted BCE averaged over the fold's events) and predictions."""
    sizes = torch.tensor(val["sizes"], dtype=torch.float32, device=net.device)
    preds, total = [], torch.zeros(len(sizes), device=net.device)
    with torch.no_grad():
        for start in range(0, val["x"].shape[1], chunk):
            p = torch.sigmoid(net.forward(val["x"][:, start:start + chunk])[0])
            total += _bce(p, val["targets"][:, start:start + chunk], val["weights"][:, start:start + chunk]).sum(1)
            preds.append(p)
    return (total / sizes).cpu().numpy(), torch.cat(preds, 1).cpu().numpy()
