"""Trials on disk: one JSON per trial, named by machine and index and written to a temporary name then renamed, so
a killed search leaves only complete trials, a restart knows what is done, and several machines can write into one
folder. One search per machine and folder at a time: a lock file says so."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from modules import locks
from modules.atomic import write_json
from modules.record import RecordError, check_metric
from modules.search.space import NAMES


def check_trial(trial: Any) -> None:
    """A trial as the analysis and the search read it: machine, index, every parameter of the space as a number and
    every score as a number or [mean, error]; a RecordError says what is wrong."""
    if not isinstance(trial, dict) or not {"machine", "index", "params", "scores"} <= set(trial):
        raise RecordError("is not a trial record (needs machine, index, params and scores)")
    for key, kind, what in (("machine", str, "text"), ("index", int, "an integer"), ("params", dict, "an object"),
                            ("scores", dict, "an object")):
        if not isinstance(trial[key], kind) or isinstance(trial[key], bool):
            raise RecordError(f"{key} is {json.dumps(trial[key])[:40]}, not {what}")
    for name in NAMES:
        value = trial["params"].get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise RecordError(f"params.{name} is {json.dumps(value)[:40]}, not a number")
    for name, value in trial["scores"].items():
        check_metric(f"scores.{name}", value)


class TrialStore:
    """The trials of one search (all machines) in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, machine: str, index: int) -> Path:
        return self.folder / f"{machine}_{index:03d}.json"

    def save(self, trial: dict[str, Any]) -> Path:
        """Write a finished trial atomically."""
        return write_json(self.path(trial["machine"], trial["index"]), trial)

    def load(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every complete trial of every machine, and a line for each file that could not be read."""
        trials, skipped = [], []
        for path in sorted(self.folder.glob("*.json")):
            try:
                trial = json.loads(path.read_text())
                check_trial(trial)
                trials.append(trial)
            except (OSError, ValueError) as err:
                skipped.append(f"{path}: skipped, {err}")
        return trials, skipped

    def done(self, machine: str) -> set[int]:
        """Indices of this machine's finished trials."""
        return {t["index"] for t in self.load()[0] if t["machine"] == machine}

    def lock(self, machine: str) -> contextlib.AbstractContextManager[None]:
        """Hold this machine's lock on the folder for the duration; a second search for the same machine is refused
        (the lock goes with the process, so a killed search never leaves it held)."""
        return locks.exclusive(self.folder / f".{machine}.lock", f"another search for machine {machine} into "
                                                                 f"{self.folder}")
