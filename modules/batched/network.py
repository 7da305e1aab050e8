"""Several copies of one LUMIN fully-connected network held as stacked weights, run forwards and backwards for all of
them at once with batched matrix products (each copy on its own batch of events).

A batch-256 step of the study's 23k-parameter network is mostly per-operation overhead; stacking the ensemble's
members turns ten small products into one larger one. The backward pass is written out by hand (the network is a
chain of linear layers and element-wise activations), which avoids autograd's bookkeeping on every step and puts
every gradient straight into one flat buffer that the optimiser updates in a few operations.

Supported: LUMIN's `CatEmbHead` (entity embeddings, no dropout), a `FullyConnected` body (plain or dense, ReLU or
Swish, with or without dropout, no batch-norm or residual connections) or a `MultiBlock` of such blocks (with or without
single-neuron bottlenecks), and a single-output sigmoid `ClassRegMulti` tail, i.e. every network of experiments
0-16 and 18-23. `Unsupported` says which part of any other network is not.
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


@dataclass
class Chain:
    """One fully-connected block of the body: which head outputs it reads (`cols`; None: all of them, in order), an
    optional single-neuron bottleneck from other head outputs (`bottleneck`: their columns, and its activation or
    'linear') appended to its inputs, its layer widths, activation and whether it is dense. `prefix` names its
    tensors; `lumin` is its key prefix in LUMIN's state dict."""

    cols: list[int] | None
    bottleneck: tuple[list[int], str] | None
    n_in: int
    widths: list[int]
    act: str
    dense: bool
    prefix: str
    lumin: str
    dropout: float = 0.0

    def inputs_of(self, k: int) -> int:
        """Width of layer k's input: the block's input, or (dense) that and every earlier layer's output."""
        if k == 0:
            return self.n_in
        return self.n_in + sum(self.widths[:k]) if self.dense else self.widths[k - 1]


def _chain(block: Any, cols: list[int] | None, bottleneck: tuple[list[int], str] | None, prefix: str,
           lumin: str) -> Chain:
    """A LUMIN FullyConnected block as a Chain, or `Unsupported` naming what it has that the engine lacks."""
    from lumin.nn.models.blocks.body import FullyConnected

    if not isinstance(block, FullyConnected) or block.res or block.bn:
        raise Unsupported(f"body {type(block).__name__} (the batched engine has FullyConnected blocks, plain or "
                          "dense, with or without dropout, without batch-norm or residual connections)")
    length = 3 if block.do else 2
    if any(len(layer) != length or not isinstance(layer[0], torch.nn.Linear) or
           (block.do and type(layer[2]) is not torch.nn.Dropout) for layer in block.layers):
        raise Unsupported("body layers other than one Linear, one activation and optionally dropout each")
    acts = {_activation(layer[1]) for layer in block.layers}
    if len(acts) != 1:
        raise Unsupported("a body mixing activations")
    return Chain(cols, bottleneck, block.n_in, [layer[0].out_features for layer in block.layers], acts.pop(),
                 bool(block.dense), prefix, lumin, float(block.do or 0.0))


def _describe(network: torch.nn.Module) -> tuple[int, list[tuple[int, int]], list[Chain]]:
    """(continuous input count, embedding table shapes, the body's blocks as chains) of a LUMIN network, or
    `Unsupported` naming what is not handled."""
    from lumin.nn.models.blocks.body import MultiBlock
    from lumin.nn.models.blocks.head import CatEmbHead
    from lumin.nn.models.blocks.tail import ClassRegMulti

    if not isinstance(network, torch.nn.Sequential) or len(network) != 3:
        raise Unsupported(f"network {type(network).__name__} is not LUMIN's head-body-tail sequence")
    head, body, tail = network
    if not isinstance(head, CatEmbHead) or head.do_cont or head.do_cat:
        raise Unsupported(f"head {type(head).__name__} (the batched engine has CatEmbHead without dropout)")
    if not isinstance(tail, ClassRegMulti) or tail.dense.out_features != 1 or \
            not isinstance(tail.act, torch.nn.Sigmoid):
        raise Unsupported("tail: the batched engine has a single sigmoid output (binary classification)")
    if isinstance(body, MultiBlock):
        if body.bottleneck_sz not in (0, 1):
            raise Unsupported("bottlenecks wider than one neuron")
        chains = []
        for i, block in enumerate(body.blocks):
            bottleneck = None
            if body.bottleneck_sz:
                layers = body.bottleneck_blocks[i]
                bottleneck = (list(body.bottleneck_masks[i]), _activation(layers[1]) if len(layers) > 1 else "linear")
            chains.append(_chain(block, list(body.masks[i]), bottleneck, f"c{i}.", f"1.blocks.{i}."))
    else:
        chains = [_chain(body, None, None, "", "1.")]
    tables = [tuple(e.weight.shape) for e in getattr(head, "embeds", [])]
    return head.n_cont_in, tables, chains


def _act(z: Tensor, act: str) -> Tensor:
    """An activation out of place (inference and bottlenecks)."""
    if act == "swish":
        return torch.nn.functional.silu(z)
    return z if act == "linear" else torch.relu(z)


def _act_grad(g: Tensor, z: Tensor, act: str, sig: Tensor | None) -> Tensor:
    """The gradient through an activation whose input was `z` (Swish: its sigmoid `sig`, kept by the forward)."""
    if act == "swish":
        return g * sig * (1 + z * (1 - sig))
    return g if act == "linear" else g * (z > 0)


class StackedNetwork:
    """`n` copies of one network: flat parameters `theta` (n, P), their gradient `grad` (n, P), forward and backward.

    Inputs are (n, batch, features) with the categorical codes in the last columns, as LUMIN's fold files hold them.
    The body is one chain of layers, or (LUMIN's MultiBlock: the split, bottleneck and wide-deep bodies) several
    whose outputs are concatenated before the tail. Every tensor lives on `device` (default the CPU), inputs
    included; `state_dict` gives CPU tensors.
    """

    def __init__(self, networks: list[torch.nn.Module], device: torch.device | str | None = None) -> None:
        self.n_cont, self.tables, self.chains = _describe(networks[0])
        self.split = len(self.chains) > 1 or self.chains[0].cols is not None
        first = self.chains[0]
        self.widths, self.act, self.dense = first.widths, first.act, first.dense
        """The single chain's (a body that is not split), as the vectorised test-time augmentation reads them."""
        self.n_members = len(networks)
        self.n_in0 = self.n_cont + sum(d for _, d in self.tables)
        self.layout = self._layout()
        self.device = torch.device(device or "cpu")
        self.theta = torch.zeros(self.n_members, self.layout.size, device=self.device)
        self.member_rows = torch.arange(self.n_members, device=self.device)[:, None]
        """Each member's row, (members, 1), for gathering every member's own embeddings at once."""
        self.columns = [None if c.cols is None else torch.tensor(c.cols, device=self.device) for c in self.chains]
        self.bottleneck_columns = [None if c.bottleneck is None else torch.tensor(c.bottleneck[0], device=self.device)
                                   for c in self.chains]
        self.grad = torch.zeros_like(self.theta)
        self.generators: list[torch.Generator] | None = None
        """Each member's own torch generator for its dropout masks (`use_generators`), drawn as LUMIN's training of
        the member alone draws them."""
        # Views made once: theta and grad are only ever changed in place, so these stay valid.
        self.p = {name: self.view(self.theta, name) for name in self.layout.slots}
        self.g = {name: self.view(self.grad, name) for name in self.layout.slots}
        self.p_t = {name: view.transpose(1, 2) for name, view in self.p.items() if name.split(".")[-1][0] == "w"}
        for i, network in enumerate(networks):
            self.load(i, network)

    @property
    def dropout(self) -> bool:
        """Whether any layer drops out (then training needs `use_generators`)."""
        return any(chain.dropout for chain in self.chains)

    def use_generators(self, states: list[Tensor]) -> None:
        """Give member k a CPU generator in the state `states[k]`: the state torch's global generator had when LUMIN
        would start training the member (dropout draws nothing else in its training)."""
        self.generators = []
        for state in states:
            generator = torch.Generator()
            generator.set_state(state)
            self.generators.append(generator)

    def _masks(self, chain: Chain, k: int, batch: int, rows: Any) -> Tensor:
        """Layer k's dropout factors for every member (members, batch, width): for each member in `rows` (those
        stepping) torch's own draw from its generator, as `nn.Dropout` makes it in training (a Bernoulli(1 - p)
        mask divided by 1 - p); zeros for the rest, whose padded events count for nothing."""
        keep = 1 - chain.dropout
        noise = torch.zeros(self.n_members, batch, chain.widths[k])
        for m in (range(self.n_members) if rows is None else rows):
            noise[m].bernoulli_(keep, generator=self.generators[m])
        return noise.div_(keep).to(self.device)

    def _layout(self) -> Layout:
        shapes: dict[str, tuple[int, ...]] = {}
        for j, (rows, dim) in enumerate(self.tables):
            shapes[f"emb{j}"] = (rows, dim)
        for chain in self.chains:
            if chain.bottleneck is not None:
                shapes[f"{chain.prefix}wn"], shapes[f"{chain.prefix}bn"] = (1, len(chain.bottleneck[0])), (1, 1)
            for k, width in enumerate(chain.widths):
                shapes[f"{chain.prefix}w{k}"], shapes[f"{chain.prefix}b{k}"] = (width, chain.inputs_of(k)), (1, width)
        shapes["wo"], shapes["bo"] = (1, sum(c.widths[-1] for c in self.chains)), (1, 1)
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
        for i, chain in enumerate(self.chains):
            if chain.bottleneck is not None:
                names[f"{chain.prefix}wn"] = f"1.bottleneck_blocks.{i}.0.weight"
                names[f"{chain.prefix}bn"] = f"1.bottleneck_blocks.{i}.0.bias"
            for k in range(len(chain.widths)):
                names[f"{chain.prefix}w{k}"] = f"{chain.lumin}layers.{k}.0.weight"
                names[f"{chain.prefix}b{k}"] = f"{chain.lumin}layers.{k}.0.bias"
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
            out[key] = (value.reshape(-1) if name.split(".")[-1][0] == "b" else value).contiguous().clone().cpu()
        return out

    def _head(self, x: Tensor, out: Tensor) -> None:
        """The head's output for inputs `x` into `out` (members, batch, head width): continuous inputs, then each
        member's own embedding of each code."""
        cont, codes = x[..., :self.n_cont], x[..., self.n_cont:].long()
        out[..., :self.n_cont] = cont
        column = self.n_cont
        for j, (_, dim) in enumerate(self.tables):
            out[..., column:column + dim] = self.p[f"emb{j}"][self.member_rows, codes[..., j]]
            column += dim

    def forward(self, x: Tensor, keep: bool = False, rows: Any = None) -> tuple[Tensor, dict[str, Any]]:
        """Logits (members, batch) of every member on its own events `x` (members, batch, features); with `keep`,
        training: what the backward pass needs, and dropout (drawn for the members `rows`, default all)."""
        n, batch = x.shape[:2]
        if not self.split:  # one chain: the head is written straight into its buffer
            head = None
        else:
            head = torch.empty(n, batch, self.n_in0, device=x.device)
            self._head(x, head)
        outs, caches = [], []
        for c, chain in enumerate(self.chains):
            out, cache = self._chain_forward(c, chain, x, head, keep, rows)
            outs.append(out)
            caches.append(cache)
        last = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
        logits = torch.baddbmm(self.p["bo"], last, self.p_t["wo"]).squeeze(-1)
        cache = {"chains": caches, "last": last, "head": head, "codes": x[..., self.n_cont:].long()} if keep else {}
        return logits, cache

    def _chain_forward(self, c: int, chain: Chain, x: Tensor, head: Tensor | None, keep: bool,
                       rows: Any = None) -> tuple[Tensor, dict[str, Any]]:
        """One chain's output for the batch, and (with `keep`) what its backward pass needs."""
        n, batch = x.shape[:2]
        depth, n_in, pre = len(chain.widths), chain.n_in, chain.prefix
        # Dense: layer k reads [o_(k-1), ..., o_0, chain input], a suffix of one buffer filled from the right.
        total = n_in + sum(chain.widths[:-1]) if chain.dense else n_in
        acts = torch.empty(n, batch, total, device=x.device)
        block_in = acts[..., total - n_in:]
        bottleneck = {}
        if head is None:
            self._head(x, block_in)
        else:
            n_cols = len(chain.cols)
            block_in[..., :n_cols] = head[..., self.columns[c]]
            if chain.bottleneck is not None:
                b_in = head[..., self.bottleneck_columns[c]]
                z = torch.baddbmm(self.p[f"{pre}bn"], b_in, self.p_t[f"{pre}wn"])
                block_in[..., n_cols:] = _act(z, chain.bottleneck[1])
                bottleneck = {"in": b_in, "z": z, "sig": torch.sigmoid(z) if chain.bottleneck[1] == "swish" else None}
        inputs, starts, zs, sig, masks, a = [], [], [], [], [], block_in
        for k in range(depth):
            if chain.dense:
                start = total - chain.inputs_of(k)
                a = acts[..., start:]
                starts.append(start)
            z = torch.baddbmm(self.p[f"{pre}b{k}"], a, self.p_t[f"{pre}w{k}"])
            if not keep:  # inference: one fused kernel, nothing kept for a backward pass
                out = torch.nn.functional.silu(z, inplace=True) if chain.act == "swish" else z.relu_()
            else:
                inputs.append(a)
                zs.append(z)
                if chain.act == "swish":
                    s = torch.sigmoid(z)
                    out = z * s
                    sig.append(s)
                else:
                    out = torch.relu(z)
                if chain.dropout:
                    masks.append(self._masks(chain, k, batch, rows))
                    out = out * masks[-1]
            if chain.dense and k < depth - 1:
                acts[..., start - chain.widths[k]:start] = out
            a = out
        cache = {"acts": acts, "inputs": inputs, "starts": starts, "zs": zs, "sig": sig, "masks": masks,
                 "bottleneck": bottleneck} if keep else {}
        return a, cache

    def backward(self, cache: dict[str, Any], d_logits: Tensor) -> None:
        """Fill `grad` with the gradient of the loss whose derivative by the logits is `d_logits` (members, batch)."""
        d_out = d_logits.unsqueeze(-1)
        self.g["wo"].copy_(torch.bmm(d_out.transpose(1, 2), cache["last"]))
        self.g["bo"].copy_(d_out.sum(1, keepdim=True))
        g_last = torch.bmm(d_out, self.p["wo"])  # d loss / d (concatenated chain outputs)
        if not self.split:
            d_head = self._chain_backward(self.chains[0], cache["chains"][0], g_last)
        else:
            d_head = torch.zeros_like(cache["head"])
            column = 0
            for c, chain in enumerate(self.chains):
                width = chain.widths[-1]
                d_in = self._chain_backward(chain, cache["chains"][c], g_last[..., column:column + width])
                column += width
                n_cols = len(chain.cols)
                d_head.index_add_(2, self.columns[c], d_in[..., :n_cols])
                if chain.bottleneck is not None:
                    pre, saved = chain.prefix, cache["chains"][c]["bottleneck"]
                    g = _act_grad(d_in[..., n_cols:], saved["z"], chain.bottleneck[1], saved["sig"])
                    self.g[f"{pre}wn"].copy_(torch.bmm(g.transpose(1, 2), saved["in"]))
                    self.g[f"{pre}bn"].copy_(g.sum(1, keepdim=True))
                    d_head.index_add_(2, self.bottleneck_columns[c], torch.bmm(g, self.p[f"{pre}wn"]))
        self._embedding_grads(d_head, cache["codes"])

    def _chain_backward(self, chain: Chain, cache: dict[str, Any], g: Tensor) -> Tensor:
        """Fill the chain's gradients from `g`, the loss's derivative by its output; returns the derivative by its
        input (members, batch, chain input width)."""
        depth, pre, d_acts = len(chain.widths), chain.prefix, None
        for k in range(depth - 1, -1, -1):
            if chain.dropout:
                g = g * cache["masks"][k]
            g = _act_grad(g, cache["zs"][k], chain.act, cache["sig"][k] if chain.act == "swish" else None)
            self.g[f"{pre}w{k}"].copy_(torch.bmm(g.transpose(1, 2), cache["inputs"][k]))
            self.g[f"{pre}b{k}"].copy_(g.sum(1, keepdim=True))
            weight = self.p[f"{pre}w{k}"]  # (out, in): d input = g @ W
            if chain.dense:
                # The last layer reads the whole buffer, so its input gradient starts the buffer's gradient.
                if d_acts is None:
                    d_acts = torch.bmm(g, weight)
                else:
                    d_acts[..., cache["starts"][k]:] += torch.bmm(g, weight)
                if k:
                    start = cache["starts"][k]
                    g = d_acts[..., start:start + chain.widths[k - 1]]
            elif k:
                g = torch.bmm(g, weight)
            else:
                return torch.bmm(g, weight)
        return d_acts[..., cache["acts"].shape[-1] - chain.n_in:]

    def _embedding_grads(self, d_head: Tensor, codes: Tensor) -> None:
        column, n = self.n_cont, self.n_members
        for j, (rows, dim) in enumerate(self.tables):
            index = (codes[..., j] + rows * self.member_rows).reshape(-1)
            summed = torch.zeros(n * rows, dim, device=d_head.device).index_add_(
                0, index, d_head[..., column:column + dim].reshape(-1, dim))  # on CUDA: atomic adds, in any order
            self.g[f"emb{j}"].copy_(summed.view(n, rows, dim))
            column += dim
