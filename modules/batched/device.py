"""Which torch device the batched engine and the vectorised test-time augmentation run on, chosen once per call.

The rule: the CPU, unless a device is asked for, either as an argument (`device="cuda"`) or through the environment
variable HIGGSML_DEVICE, which `higgsml run --device` sets for a notebook's session. `auto` means CUDA where torch
sees a GPU, else the CPU. Asking for CUDA where there is none is an error, never a silent fall-back, so a timing
says what it measured. On the CPU everything runs exactly as before (same operations, same results, bit for bit).

LUMIN itself is not steered by this: LUMIN 0.9.1 puts its models on CUDA by itself wherever torch sees a GPU.

This module imports torch only inside its functions, so the command line can name the choices without loading it.
"""

from __future__ import annotations

import os
from typing import Any

DEVICE_ENV = "HIGGSML_DEVICE"
"""The device the batched engine and the vectorised TTA use when no argument names one (default: cpu)."""
DEVICES = ("cpu", "cuda", "auto")
"""What HIGGSML_DEVICE and `--device` accept (also `cuda:N` for one GPU of several)."""


def chosen_device(device: Any = None) -> Any:
    """The `torch.device` to run on: `device` (a name or a torch.device) if given, else HIGGSML_DEVICE, else cpu."""
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device or os.environ.get(DEVICE_ENV) or "cpu").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"device {name!r}: choose one of {', '.join(DEVICES)} (or cuda:N)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for ({DEVICE_ENV} or an argument), but torch sees no CUDA GPU")
    return torch.device(name)


def from_host(array: Any, device: Any) -> Any:
    """A numpy array as a tensor on `device`: shared with the array on the CPU (as `torch.from_numpy`); elsewhere
    copied through pinned memory without waiting for the GPU's queue (for small per-step values: a copy from
    pageable memory can make the host wait for the kernels queued before it)."""
    import torch

    tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.pin_memory().to(device, non_blocking=True)


def synchronize(device: Any) -> None:
    """Wait for the work queued on `device` (before reading a clock); nothing to wait for on the CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(device: Any) -> dict[str, Any]:
    """What a timing on `device` ran on: its name and, on CUDA, the GPU and the float32 matrix-product precision
    (`highest`: true float32, as on the CPU; `high`: TF32 allowed)."""
    import torch

    out: dict[str, Any] = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        out.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   float32_matmul_precision=torch.get_float32_matmul_precision())
        try:
            out["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
        except (AttributeError, RuntimeError):  # newer torch may refuse the old flag; the precision above says it
            pass
    else:
        out.update(torch_threads=torch.get_num_threads())
    return out
