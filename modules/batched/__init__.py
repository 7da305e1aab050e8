"""The batched engine (`--engine batched`): all ensemble members trained at once as one stacked computation, with
LUMIN's data draws, schedules and model format, for the experiments whose networks and callbacks it supports.

This file holds only the engine names and their switch, so the command line can name them without importing torch."""

from __future__ import annotations

import os

ENGINES = ("lumin", "batched")
"""`lumin`: the study's way, LUMIN's `train_models` member by member; `batched`: all members at once."""
ENGINE_ENV = "HIGGSML_ENGINE"
"""The engine a notebook's session trains with; `higgsml run/search --engine` sets it (default: lumin)."""


def chosen_engine() -> str:
    """The engine asked for through HIGGSML_ENGINE (default lumin)."""
    engine = os.environ.get(ENGINE_ENV) or "lumin"
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r} is not an engine: choose one of {', '.join(ENGINES)}")
    return engine
