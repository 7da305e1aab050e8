"""Several copies of one LUMIN fully-connected network held as stacked weights, run forwards and backwards for all of
them at once with batched matrix products (each copy on its own batch of events).

A batch-256 step of the study's 23k-parameter network is mostly per-operation overhead; stacking the ensemble's
members turns ten small products into one larger one. The backward pass is written out by hand (the network is a
chain of linear layers and element-wise activations), which avoids autograd's bookkeeping on every step and puts
every gradient straight into one flat buffer that the optimiser updates in a few operations.

Supported: LUMIN's `CatEmbHead` (entity embeddings, no dropout), a `FullyConnected` body (plain or dense, ReLU or
Swish, no batch-norm, dropout or residual connections) and a single-output sigmoid `ClassRegMulti` tail, i.e. every
network of experiments 0-13 and 18-22. `Unsupported` says which part of any other network is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


class Unsupported(ValueError):
    """The network has a part the batched engine does not implement (train it with LUMIN instead)."""


@dataclass(frozen=True)
class Layout:
    """Where each tensor lives in a member's flat parameter vector: name -> (offset, shape as stored here)."""

    slots: dict[str, tuple[int, tuple[int, ...]]]
    size: int


def _activation(module: Any) -> str:
    from lumin.nn.models.layers.activations import Swish

    if isinstance(module, torch.nn.ReLU):
        return "relu"
    if isinstance(module, Swish):
        return "swish"
    raise Unsupported(f"activation {type(module).__name__} (the batched engine has ReLU and Swish)")


def _describe(network: torch.nn.Module) -> tuple[int, list[tuple[int, int]], list[int], str, bool]:
    """(continuous input count, embedding table shapes, layer output widths, activation, dense) of a LUMIN network,
    or `Unsupported` naming what is not handled."""
    from lumin.nn.models.blocks.body import FullyConnected
    from lumin.nn.models.blocks.head import CatEmbHead
    from lumin.nn.models.blocks.tail import ClassRegMulti

    if not isinstance(network, torch.nn.Sequential) or len(network) != 3:
        raise Unsupported(f"network {type(network).__name__} is not LUMIN's head-body-tail sequence")
    head, body, tail = network
    if not isinstance(head, CatEmbHead) or head.do_cont or head.do_cat:
        raise Unsupported(f"head {type(head).__name__} (the batched engine has CatEmbHead without dropout)")
    if not isinstance(body, FullyConnected) or body.res or body.bn or body.do:
        raise Unsupported(f"body {type(body).__name__} (the batched engine has FullyConnected, plain or dense, "
                          "without batch-norm, dropout or residual connections)")
    if not isinstance(tail, ClassRegMulti) or tail.dense.out_features != 1 or \
            not isinstance(tail.act, torch.nn.Sigmoid):
        raise Unsupported("tail: the batched engine has a single sigmoid output (binary classification)")
    if any(len(layer) != 2 or not isinstance(layer[0], torch.nn.Linear) for layer in body.layers):
        raise Unsupported("body layers other than one Linear and one activation each")
    acts = {_activation(layer[1]) for layer in body.layers}
    if len(acts) != 1:
        raise Unsupported("a body mixing activations")
    tables = [tuple(e.weight.shape) for e in getattr(head, "embeds", [])]
    widths = [layer[0].out_features for layer in body.layers]
    return head.n_cont_in, tables, widths, acts.pop(), bool(body.dense)


class StackedNetwork:
    """`n` copies of one network: flat parameters `theta` (n, P), their gradient `grad` (n, P), forward and backward.

    Inputs are (n, batch, features) with the categorical codes in the last columns, as LUMIN's fold files hold them.
    Every tensor lives on `device` (default the CPU), inputs included; `state_dict` gives CPU tensors.
    """

    def __init__(self, networks: list[torch.nn.Module], device: torch.device | str | None = None) -> None:
        self.n_cont, self.tables, self.widths, self.act, self.dense = _describe(networks[0])
        self.n_members = len(networks)
        self.n_in0 = self.n_cont + sum(d for _, d in self.tables)
        self.layout = self._layout()
        self.device = torch.device(device or "cpu")
        self.theta = torch.zeros(self.n_members, self.layout.size, device=self.device)
        self.member_rows = torch.arange(self.n_members, device=self.device)[:, None]
        """Each member's row, (members, 1), for gathering every member's own embeddings at once."""
        self.grad = torch.zeros_like(self.theta)
        # Views made once: theta and grad are only ever changed in place, so these stay valid.
        self.p = {name: self.view(self.theta, name) for name in self.layout.slots}
        self.g = {name: self.view(self.grad, name) for name in self.layout.slots}
        self.p_t = {name: view.transpose(1, 2) for name, view in self.p.items() if name.startswith("w")}
        for i, network in enumerate(networks):
            self.load(i, network)

    def _inputs_of(self, k: int) -> int:
        """Width of layer k's input: the head's output, or (dense) that and every earlier layer's output."""
        if k == 0:
            return self.n_in0
        return self.n_in0 + sum(self.widths[:k]) if self.dense else self.widths[k - 1]

    def _layout(self) -> Layout:
        shapes: dict[str, tuple[int, ...]] = {}
        for j, (rows, dim) in enumerate(self.tables):
            shapes[f"emb{j}"] = (rows, dim)
        for k, width in enumerate(self.widths):
            shapes[f"w{k}"], shapes[f"b{k}"] = (width, self._inputs_of(k)), (1, width)
        shapes["wo"], shapes["bo"] = (1, self.widths[-1]), (1, 1)
        slots, offset = {}, 0
        for name, shape in shapes.items():
            slots[name] = (offset, shape)
            offset += int(np.prod(shape))
        return Layout(slots, offset)

    def view(self, flat: Tensor, name: str) -> Tensor:
        """Tensor `name` of every member as a (members, *shape) view of the flat buffer `flat`."""
        offset, shape = self.layout.slots[name]
        return flat[:, offset:offset + int(np.prod(shape))].view(self.n_members, *shape)

    def _lumin_names(self) -> dict[str, str]:
        """Our tensor name -> LUMIN's state-dict key (weights are stored as torch's Linear stores them: out x in)."""
        names = {f"emb{j}": f"0.embeds.{j}.weight" for j in range(len(self.tables))}
        for k in range(len(self.widths)):
            names[f"w{k}"], names[f"b{k}"] = f"1.layers.{k}.0.weight", f"1.layers.{k}.0.bias"
        names["wo"], names["bo"] = "2.dense.weight", "2.dense.bias"
        return names

    def load(self, member: int, network: torch.nn.Module) -> None:
        """Copy a LUMIN network's weights into member `member`."""
        state = network.state_dict()
        with torch.no_grad():
            for name, key in self._lumin_names().items():
                target = self.view(self.theta, name)[member]
                target.copy_(state[key].reshape(target.shape))

    def state_dict(self, member: int, theta: Tensor | None = None) -> dict[str, Tensor]:
        """Member `member`'s weights (from `theta`, default the current ones) as its LUMIN network's state dict."""
        theta = self.theta if theta is None else theta
        out = {}
        for name, key in self._lumin_names().items():
            value = self.view(theta, name)[member]
            out[key] = (value.reshape(-1) if name.startswith("b") else value).contiguous().clone().cpu()
        return out

    def forward(self, x: Tensor, keep: bool = False) -> tuple[Tensor, dict[str, Any]]:
        """Logits (members, batch) of every member on its own events `x` (members, batch, features); with `keep`,
        what the backward pass needs."""
        n, batch = x.shape[:2]
        cont, codes = x[..., :self.n_cont], x[..., self.n_cont:].long()
        depth, n_in0 = len(self.widths), self.n_in0
        # Dense: layer k reads [o_(k-1), ..., o_0, head output], a suffix of one buffer filled from the right.
        total = n_in0 + sum(self.widths[:-1]) if self.dense else n_in0
        acts = torch.empty(n, batch, total, device=x.device)
        head = acts[..., total - n_in0:]
        head[..., :self.n_cont] = cont
        column, members = self.n_cont, self.member_rows
        for j, (_, dim) in enumerate(self.tables):
            head[..., column:column + dim] = self.p[f"emb{j}"][members, codes[..., j]]
            column += dim
        inputs, starts, zs, sig, a = [], [], [], [], head
        for k in range(depth):
            if self.dense:
                start = total - self._inputs_of(k)
                a = acts[..., start:]
                starts.append(start)
            z = torch.baddbmm(self.p[f"b{k}"], a, self.p_t[f"w{k}"])
            if not keep:  # inference: one fused kernel, nothing kept for a backward pass
                out = torch.nn.functional.silu(z, inplace=True) if self.act == "swish" else z.relu_()
            else:
                inputs.append(a)
                zs.append(z)
                if self.act == "swish":
                    s = torch.sigmoid(z)
                    out = z * s
                    sig.append(s)
                else:
                    out = torch.relu(z)
            if self.dense and k < depth - 1:
                acts[..., start - self.widths[k]:start] = out
            a = out
        logits = torch.baddbmm(self.p["bo"], a, self.p_t["wo"]).squeeze(-1)
        cache = {"acts": acts, "inputs": inputs, "starts": starts, "zs": zs, "sig": sig, "last": a,
                 "codes": codes} if keep else {}
        return logits, cache

    def backward(self, cache: dict[str, Any], d_logits: Tensor) -> None:
        """Fill `grad` with the gradient of the loss whose derivative by the logits is `d_logits` (members, batch)."""
        depth = len(self.widths)
        d_out = d_logits.unsqueeze(-1)
        self.g["wo"].copy_(torch.bmm(d_out.transpose(1, 2), cache["last"]))
        self.g["bo"].copy_(d_out.sum(1, keepdim=True))
        g = torch.bmm(d_out, self.p["wo"])  # d loss / d o_(depth-1)
        acts, d_acts = cache["acts"], None
        for k in range(depth - 1, -1, -1):
            z = cache["zs"][k]
            if self.act == "swish":
                s = cache["sig"][k]
                g = g * s * (1 + z * (1 - s))
            else:
                g = g * (z > 0)
            self.g[f"w{k}"].copy_(torch.bmm(g.transpose(1, 2), cache["inputs"][k]))
            self.g[f"b{k}"].copy_(g.sum(1, keepdim=True))
            weight = self.p[f"w{k}"]  # (out, in): d input = g @ W
            if self.dense:
                # The last layer reads the whole buffer, so its input gradient starts the buffer's gradient.
                if d_acts is None:
                    d_acts = torch.bmm(g, weight)
                else:
                    d_acts[..., cache["starts"][k]:] += torch.bmm(g, weight)
                if k:
                    start = cache["starts"][k]
                    g = d_acts[..., start:start + self.widths[k - 1]]
            elif k:
                g = torch.bmm(g, weight)
            else:
                d_head = torch.bmm(g, weight)
        if self.dense:
            d_head = d_acts[..., acts.shape[-1] - self.n_in0:]
        self._embedding_grads(d_head, cache["codes"])

    def _embedding_grads(self, d_head: Tensor, codes: Tensor) -> None:
        column, n = self.n_cont, self.n_members
        for j, (rows, dim) in enumerate(self.tables):
            index = (codes[..., j] + rows * self.member_rows).reshape(-1)
            summed = torch.zeros(n * rows, dim, device=d_head.device).index_add_(
                0, index, d_head[..., column:column + dim].reshape(-1, dim))  # on CUDA: atomic adds, in any order
            self.g[f"emb{j}"].copy_(summed.view(n, rows, dim))
            column += dim
