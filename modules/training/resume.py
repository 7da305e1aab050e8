"""Resuming an interrupted ensemble: a fingerprint of everything that decides what a member becomes, a folder kept
only under the same fingerprint, and the finished members found in it (each reused rather than trained again)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules.atomic import write_json
from modules.models.describe import describe_model, describe_partial
from modules.training.member import Member

TRAINING = "LUMIN 0.5.1's loop: sub-epochs, 0.5.1 early stopping and best state"
"""What kind of training loop made a member: part of the fingerprint, so members of an older loop are not reused."""


def fingerprint(train_fy: Any, model_builder: Any, n_epochs: int, cb_partials: list[Callable[[], Any]],
                patience: int | None, bs: int, seed: int | None, engine: str = "lumin") -> str:
    """A hash of everything that decides what a member becomes: data file, model, callbacks, epochs, patience,
    batch size, seed and (other than LUMIN's) engine. Saved members are reused only under the same fingerprint."""
    payload = {"data": str(Path(train_fy.foldfile.filename).resolve()), "model": describe_model(model_builder),
               "callbacks": [describe_partial(cb) for cb in cb_partials], "n_epochs": n_epochs, "patience": patience,
               "batch_size": bs, "seed": seed, "training": TRAINING}
    if engine != "lumin":
        payload["engine"] = engine
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_folder(savepath: Path, key: str, resume: bool) -> None:
    """Keep the saved members of an earlier run with the same fingerprint; otherwise start from an empty folder."""
    state = savepath / "ensemble.json"
    if resume and state.exists():
        try:
            if json.loads(state.read_text()).get("fingerprint") == key:
                return
        except ValueError:
            pass
        print(f"the members saved in {savepath} were trained differently: starting afresh", flush=True)
    if savepath.exists():
        shutil.rmtree(savepath)
    write_json(state, {"fingerprint": key})


def finished_members(savepath: Path, n_models: int) -> dict[int, Member]:
    """The members of `savepath` an earlier run finished (record and weights both written), by index."""
    members = {}
    for i in range(n_models):
        record, weights = savepath / f"member_{i}.json", savepath / f"model_id_{i}" / f"train_{i}.h5"
        if record.exists() and weights.exists():
            members[i] = Member.from_record(json.loads(record.read_text()), savepath)
            print(f"member {i + 1}/{n_models}: reused from the interrupted run ({members[i].epochs} sub-epochs, "
                  f"validation loss {members[i].result['loss']:.4e})", flush=True)
    return members
