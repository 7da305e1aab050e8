"""Test-time augmentation with array operations: the study's 8 copies of every event (rotations by 0 and pi in phi,
each with and without flipping y and z), and every ensemble member run on them chunk by chunk, on one thread per
torch thread; LUMIN builds each copy fold by fold with pandas and predicts each whole fold at once. The predictions
are the same, to float precision: the ensemble's weighted mean over members of each member's mean over the copies.

Rotating by pi and flipping y and z only change the signs of the momentum components: the 8 copies are the 8 sign
patterns of three groups of inputs (every px, every py, every pz). Where the batched engine supports a network, a
layer that reads the inputs (every layer of a dense body, the first of a plain one) gets their part of its sums once
per event rather than once per copy: the kept inputs and the px group with both signs, the py and pz groups with
their four sign patterns, added pairwise into the 8 copies. For the study's final model that is 19% less arithmetic
(18,496 rather than 22,902 multiply-adds per copy). Other networks run LUMIN's own modules on the 8 copies.

On a GPU (`device`, see `modules.batched.device`: default HIGGSML_DEVICE, else the CPU) the same products run on
chunks of CUDA_CHUNK events, one after another, with the ensemble's weighted mean taken there; the CPU path is
unchanged (worker threads make sense only there).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modules.folds import AUG_ROTATIONS, fold_table, fold_yielder
from modules.timing import timer

CHUNK = 512
"""Events per step: their 8 copies make 4,096 columns, small enough to stay in the CPU's caches yet large enough to
keep each matrix product efficient (measured sizes: docs/benchmarks.md)."""
CUDA_CHUNK = 65_536
"""Events per step on a GPU: their 8 copies make 524,288 columns, so each product fills the GPU (the final model's
buffer of neuron-by-copy values is then 415 MB)."""


def copies(inputs: np.ndarray, feats: list[str], rotations: int = AUG_ROTATIONS) -> np.ndarray:
    """(8, events, features) float32: for flips z, y in (no, yes) and each rotation, the events rotated in phi, then
    reflected, as LUMIN's HEPAugFoldYielder orders its test-time copies; NaN (undefined) values become 0 as LUMIN's."""
    px, py, pz = _vector_columns(feats)
    out = []
    for flip_z in (False, True):
        for flip_y in (False, True):
            for angle in np.linspace(0, 2 * np.pi, rotations + 1)[:rotations]:
                x = inputs.astype(np.float64, copy=True)
                x[:, px] = inputs[:, px] * np.cos(angle) - inputs[:, py] * np.sin(angle)
                x[:, py] = inputs[:, py] * np.cos(angle) + inputs[:, px] * np.sin(angle)
                if flip_y:
                    x[:, py] *= -1
                if flip_z:
                    x[:, pz] *= -1
                out.append(np.nan_to_num(x))
    return np.stack(out).astype(np.float32)


def _vector_columns(feats: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the px, py and pz of every vector that LUMIN rotates (those with both px and py)."""
    index = {f: i for i, f in enumerate(feats)}
    vectors = [f[:-3] for f in feats if f.endswith("_px") and f"{f[:-3]}_py" in index]
    return (np.array([index[f"{v}_px"] for v in vectors], dtype=int),
            np.array([index[f"{v}_py"] for v in vectors], dtype=int),
            np.array([index[f"{v}_pz"] for v in vectors if f"{v}_pz" in index], dtype=int))


@dataclass(frozen=True)
class Signs:
    """The continuous inputs by what the copies do to them: kept, or sign-flipped with the px, py or pz group."""

    kept: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    n_cont: int
    cardinalities: tuple[int, ...]

    def inputs(self, block: np.ndarray) -> tuple[Any, Any]:
        """A block of events (rows as stored: continuous inputs, then categorical codes) as the two matrices every
        member multiplies, one column per event: [kept, px, one-hot codes] and [py, pz]."""
        import torch

        block = np.nan_to_num(block)
        one_hot = [np.eye(n, dtype=np.float32)[block[:, self.n_cont + j].astype(int)]
                   for j, n in enumerate(self.cardinalities)]
        first = np.concatenate([block[:, self.kept], block[:, self.px], *one_hot], axis=1, dtype=np.float32)
        second = np.concatenate([block[:, self.py], block[:, self.pz]], axis=1, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(first.T)), torch.from_numpy(np.ascontiguousarray(second.T))


def signs(feats: list[str], n_cont: int, cardinalities: tuple[int, ...],
          rotations: int = AUG_ROTATIONS) -> Signs | None:
    """The sign groups of `feats`, or None where the copies are not sign flips (rotations other than 0 and pi)."""
    px, py, pz = _vector_columns(feats)
    if rotations != 2 or not len(px):
        return None
    moved = set(px) | set(py) | set(pz)
    kept = np.array([i for i in range(n_cont) if i not in moved], dtype=int)
    return Signs(kept, px, py, pz, n_cont, cardinalities)


class SignedMember:
    """One network's mean prediction over the 8 copies, its input-reading work shared by the copies (see above).

    One buffer holds every layer's pre-activations, then its outputs, for the 8 copies of a block of events, one
    row per neuron and one column per copy. It starts with the inputs' part of the sums (and the biases); as soon as
    a layer's output is known, its part of the sums of every later layer that reads it is added in one product
    (for the final model's first layer, 165 sums over its 33 outputs). This is faster than one row per copy and one
    product per layer over all the outputs before it (measured: docs/benchmarks.md)."""

    def __init__(self, network: Any, groups: Signs, device: Any = None) -> None:
        import torch

        from modules.batched.network import StackedNetwork, Unsupported

        net = StackedNetwork([network])  # raises Unsupported for what it cannot run
        if net.split:
            raise Unsupported("a split body (its blocks read different inputs)")
        if net.n_cont != groups.n_cont or tuple(rows for rows, _ in net.tables) != groups.cardinalities:
            raise Unsupported("inputs other than the fold file's continuous features and embedded codes")
        p = {name: view[0] for name, view in net.p.items()}
        self.act, widths, depth = net.act, net.widths, len(net.widths)
        edges = [int(sum(widths[:k])) for k in range(depth + 1)]
        self.slots = list(zip(edges[:-1], edges[1:], strict=True))
        reading = range(depth) if net.dense else range(1)  # the layers that read the inputs
        self.n_head = edges[len(reading)]
        head = torch.cat([p[f"w{k}"][:, -net.n_in0:] for k in reading])
        bias = torch.cat([p[f"b{k}"][0] for k in reading])
        self.other_biases = torch.cat([p[f"b{k}"][0] for k in range(len(reading), depth)] or [torch.zeros(0)])[:, None]
        cont, column, tables = head[:, :net.n_cont], net.n_cont, []
        for j, (_, dim) in enumerate(net.tables):
            tables.append(p[f"emb{j}"] @ head[:, column:column + dim].T)  # each category's part of the sums
            column += dim
        part = {name: cont[:, getattr(groups, name)].T for name in ("kept", "px", "py", "pz")}
        self.w1 = torch.cat([torch.cat([part["kept"], s * part["px"], *tables]) for s in (1, -1)], 1).T.contiguous()
        self.b1 = torch.cat([bias, bias])[:, None]
        self.w2 = torch.cat([torch.cat([sy * part["py"], sz * part["pz"]]) for sy in (1, -1) for sz in (1, -1)],
                            1).T.contiguous()
        # Layer j's output feeds layers j+1 onwards (dense) or j+1 alone (plain): those layers' weights on it.
        self.feeds = []
        for j in range(depth - 1):
            readers = range(j + 1, depth) if net.dense else range(j + 1, j + 2)
            blocks = [self._weight_on(p[f"w{k}"], j, k, widths, net.dense) for k in readers]
            self.feeds.append((edges[j + 1], edges[readers[-1] + 1], torch.cat(blocks).contiguous()))
        self.wo, self.bo = p["wo"][0].clone(), float(p["bo"])
        if device is not None and torch.device(device).type != "cpu":  # made on the CPU, then moved as they are
            self.w1, self.b1, self.w2, self.other_biases, self.wo = (
                t.to(device) for t in (self.w1, self.b1, self.w2, self.other_biases, self.wo))
            self.feeds = [(begin, end, weight.to(device)) for begin, end, weight in self.feeds]

    @staticmethod
    def _weight_on(weight: Any, j: int, k: int, widths: list[int], dense: bool) -> Any:
        """Layer k's weights on layer j's output: in a dense body, LUMIN orders layer k's inputs o_(k-1), ...,
        o_0, then the network's inputs."""
        if not dense:
            return weight
        start = int(sum(widths[j + 1:k]))
        return weight[:, start:start + widths[j]]

    def __call__(self, inputs: tuple[Any, Any]) -> Any:
        """The member's prediction for each copy of each event of a block, (8, events), where the inputs are."""
        import torch

        first, second = inputs
        n, head = first.shape[1], self.n_head
        acts = torch.empty(self.slots[-1][1], 8 * n, device=first.device)
        by_px = torch.addmm(self.b1, self.w1, first).view(2, head, n).permute(1, 0, 2)
        by_pyz = torch.mm(self.w2, second).view(4, head, n).permute(1, 0, 2)
        torch.add(by_px[:, :, None], by_pyz[:, None], out=acts[:head].view(head, 2, 4, n))
        acts[head:] = self.other_biases
        for j, (start, stop) in enumerate(self.slots):
            out = acts[start:stop]
            if self.act == "swish":
                torch.nn.functional.silu(out, inplace=True)
            else:
                out.relu_()
            if j < len(self.feeds):
                begin, end, weight = self.feeds[j]
                acts[begin:end].addmm_(weight, out)
        logits = torch.mv(out.T, self.wo).add_(self.bo)
        return torch.sigmoid(logits).view(8, n)


def _plan(networks: list[Any], feats: list[str], n_cont: int, device: Any = None
          ) -> tuple[Callable[[np.ndarray], Any], list[Callable[[Any], Any]]]:
    """How to prepare a block of events once for all members (as CPU tensors), and each member's predictions of
    the 8 copies, (8, events), from that: the shared-sign way where every member allows it, else LUMIN's own network
    on the 8 copies. The members' weights are on `device` (default the CPU), and so must their inputs be."""
    import copy

    import torch

    from modules.batched.network import Unsupported

    device = torch.device(device or "cpu")
    cardinalities = tuple(int(e.weight.shape[0]) for e in getattr(networks[0][0], "embeds", []))
    groups = signs(feats, n_cont, cardinalities)
    if groups is not None:
        try:
            return groups.inputs, [SignedMember(network, groups, device) for network in networks]
        except Unsupported:
            pass

    def rows(block: np.ndarray) -> Any:
        stacked = copies(block, feats)
        return torch.from_numpy(stacked.reshape(-1, stacked.shape[-1]))

    def member(network: Any) -> Callable[[Any], Any]:  # LUMIN's tail gives probabilities
        if next(network.parameters()).device != device:  # LUMIN puts its models on any GPU it sees: use a copy
            network = copy.deepcopy(network).to(device)
        return lambda x: network(x).reshape(8, -1)

    return rows, [member(network) for network in networks]


def _to(block: Any, device: Any) -> Any:
    """A prepared block (a tensor or a tuple of them) on `device`."""
    if isinstance(block, tuple):
        return tuple(_to(part, device) for part in block)
    return block if device.type == "cpu" else block.to(device, non_blocking=True)


def _predict_on_gpu(inputs: np.ndarray, weights: np.ndarray, prepare: Callable[[np.ndarray], Any],
                    members: list[Callable[[Any], Any]], device: Any) -> np.ndarray:
    """The ensemble's predictions chunk by chunk on a GPU: each member's mean over the copies (float64) weighted
    and summed there, one copy back to the host per chunk."""
    import torch

    pred = np.zeros(len(inputs))
    for start in range(0, len(inputs), CUDA_CHUNK):
        block = _to(prepare(inputs[start:start + CUDA_CHUNK]), device)
        total = torch.zeros(min(CUDA_CHUNK, len(inputs) - start), dtype=torch.float64, device=device)
        for weight, member in zip(weights, members, strict=True):
            total.add_(member(block).double().mean(0), alpha=float(weight))
        pred[start:start + CUDA_CHUNK] = total.cpu().numpy()
    return pred


def predict(ensemble: Any, foldfile: Path, device: Any = None) -> tuple[pd.DataFrame, float]:
    """Every event of `foldfile` predicted with test-time augmentation: a table like `evaluation.predict`'s (pred,
    fold, targets, weights and the file's other columns) and the seconds the predictions took. On the CPU the chunks
    are shared among as many threads as torch has, each running torch on one thread (small products gain little
    from two); on a GPU (`device`, default HIGGSML_DEVICE, else the CPU) large chunks run one after another."""
    import torch

    from modules.batched.device import chosen_device, synchronize

    device = chosen_device(device)
    fy = fold_yielder(foldfile, augment=False)
    try:
        table = fold_table(fy, inputs=True)
        feats, n_cont = fy.cont_feats + fy.cat_feats, len(fy.cont_feats)
    finally:
        fy.close()
    inputs = table[feats].to_numpy()
    weights = np.asarray(ensemble.weights, dtype=np.float64)
    weights = weights / weights.sum()
    networks = [model.model.eval() for model in ensemble.models]
    pred = np.zeros(len(inputs))
    threads = torch.get_num_threads()

    def work(starts: range) -> None:
        with torch.inference_mode():
            for start in starts:
                block = prepare(inputs[start:start + CHUNK])
                for weight, member in zip(weights, members, strict=True):
                    pred[start:start + CHUNK] += weight * member(block).numpy().mean(axis=0, dtype=np.float64)

    with timer() as clock, torch.inference_mode():
        prepare, members = _plan(networks, feats, n_cont, device)
        if device.type != "cpu":
            pred = _predict_on_gpu(inputs, weights, prepare, members, device)
            synchronize(device)
        else:
            torch.set_num_threads(1)
            try:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(work, [range(i * CHUNK, len(inputs), threads * CHUNK) for i in range(threads)]))
            finally:
                torch.set_num_threads(threads)
    out = table.drop(columns=feats)
    out.insert(0, "pred", pred)
    return out.rename(columns={"targets": "gen_target", "weights": "gen_weight"}), clock["seconds"]
