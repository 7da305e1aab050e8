"""Resuming an interrupted ensemble: a fingerprint of everything that decides what a member becomes, a folder kept
only under the same fingerprint, and the finished members found in it (each reused rather than trained again)."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modules import integrity
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


def _intact_zip(path: Path) -> bool:
    """Whether `path` is a whole zip archive (torch's format for saved weights), every member's CRC right."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def damage(savepath: Path, index: int) -> tuple[Member | None, str | None]:
    """Member `index` as its record describes it, or what is wrong with it: a record that is not JSON (cut short)
    or lacks what a member needs, or files that are missing, of another size or another SHA-256 than the record
    says. A record from before records held checksums is trusted only where its weights are an intact archive."""
    record, weights = savepath / f"member_{index}.json", savepath / f"model_id_{index}" / f"train_{index}.h5"
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError) as err:
        return None, f"{record.name} is not readable JSON ({err})"
    if not isinstance(data, dict):
        return None, f"{record.name} holds {type(data).__name__}, not a member's record"
    if "files" in data:
        problem = integrity.difference(savepath, data["files"])
        if problem is not None:
            return None, problem
    elif not weights.is_file():
        return None, f"{weights.relative_to(savepath)} missing"
    elif not _intact_zip(weights):
        return None, f"{weights.relative_to(savepath)} is not a whole archive"
    try:
        member = Member.from_record(data, savepath)
        float(member.result["loss"])
    except (KeyError, TypeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        return None, f"{record.name} lacks what a member needs ({type(err).__name__}: {err})"
    return member, None


def finished_members(savepath: Path, n_models: int) -> dict[int, Member]:
    """The members of `savepath` an earlier run finished (their record written last, after their files), by index,
    each checked against its record first: a damaged one is named in one line and set aside
    (`set-aside/member_<i>-<time>/`), so that it alone is trained again."""
    members = {}
    for i in range(n_models):
        if not (savepath / f"member_{i}.json").exists():
            continue  # never finished: trained again
        member, problem = damage(savepath, i)
        if problem is not None:
            aside = integrity.set_aside([savepath / f"member_{i}.json", savepath / f"member_{i}_schedule.npz",
                                         savepath / f"model_id_{i}"], savepath / integrity.SET_ASIDE, f"member_{i}")
            print(f"member {i + 1}/{n_models}: damaged ({problem}); set aside in {aside}, training it again",
                  flush=True)
            continue
        members[i] = member
        print(f"member {i + 1}/{n_models}: reused from the interrupted run ({member.epochs} sub-epochs, "
              f"validation loss {member.result['loss']:.4e})", flush=True)
    return members
