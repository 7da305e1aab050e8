"""Options several commands share (`--dataset`, `--scheduler`, `--engine`, `--device`), declared once so they agree."""

from __future__ import annotations

import argparse
import os

from modules.batched.device import DEVICES
from modules.runner import NOTEBOOK_DEFAULTS

DATASET_HELP = (
    "which data to use: auto (the CERN Open Data file when present in the data folder, else the simulated stand-in), "
    "opendata, kaggle (training.csv + test.csv), simulated, or the path of a CSV in the official format "
    "(default: %(default)s)"
)
ENGINES = ("lumin", "batched")
"""The engines' names (`modules.training.engines.ENGINES`, which a test holds equal), spelled here so that the
command line answers, and refuses, without loading torch first."""
HAND_SET = {"ENGINE": "HIGGSML_ENGINE", "SCHEDULER": "HIGGSML_SCHEDULER", "DEVICE": "HIGGSML_DEVICE"}
"""Environment variables a user may set by hand instead of `--engine`, `--scheduler` and `--device` (an option wins).
Only the commands read them, and pass the values on as notebook parameters."""


def add_dataset_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """Declare `--dataset` on a command, the same way everywhere."""
    parser.add_argument("--dataset", default=default, metavar="auto|opendata|kaggle|simulated|PATH", help=DATASET_HELP)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """`--scheduler`, `--engine` and `--device`, which `higgsml run` and `higgsml search` share."""
    parser.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                        help="train the ensemble members as tasks on Dask: 'local' for a cluster on this machine, or "
                             "a scheduler's address such as tcp://host:8786 (default: HIGGSML_SCHEDULER, else none)")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="how to train the members: 'batched' (all members at once, the same members as LUMIN's "
                             "to float precision; a network it cannot train falls back to LUMIN with a note) or "
                             "'lumin' (the study's own loop, one member after another, for the paper's timing "
                             "comparisons) (default: HIGGSML_ENGINE, else batched; lumin with a --scheduler)")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="where the batched engine trains and the vectorised test-time augmentation predicts: "
                             "'cpu' (the default), 'cuda', or 'auto' (CUDA where torch sees a GPU); LUMIN's own "
                             "training uses any GPU torch sees, whatever this says (default: HIGGSML_DEVICE, else cpu)")


def training_parameters(engine: str | None, scheduler: str | None, device: str | None) -> dict[str, object]:
    """ENGINE, SCHEDULER and DEVICE for a notebook's parameters cell: the options given, else the environment
    variables of `HAND_SET`, else the notebooks' defaults."""
    given = {"ENGINE": engine, "SCHEDULER": scheduler, "DEVICE": device}
    chosen = {name: given[name] or os.environ.get(HAND_SET[name]) for name in NOTEBOOK_DEFAULTS}
    if chosen["ENGINE"] is None and chosen["SCHEDULER"] is not None:
        chosen["ENGINE"] = "lumin"  # members as Dask tasks: LUMIN's loop
    return {name: value or NOTEBOOK_DEFAULTS[name] for name, value in chosen.items()}
