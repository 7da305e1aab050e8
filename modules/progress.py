"""Progress of a run, told as it happens: the notebook's session writes its stage (preparing, member k of n at epoch
e, validation, test) to a small status file, which `higgsml run` reads and shows as one live line in a terminal (one
line per stage in a log, without carriage returns); in Jupyter the same stages show as a progress bar."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from modules.atomic import write_json

FILE = "progress.json"
HEADLESS = "HIGGSML_HEADLESS"
"""Set by `higgsml run` for the notebook's kernel: report to the status file only, draw no bar."""


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """What a running notebook is doing, written to `path` (and drawn as a bar in an interactive notebook)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.bar: Any = None
        self.member_times: list[float] = []
        self.member_started = time.perf_counter()
        self.epoch_times: list[float] = []
        self.epoch_started = time.perf_counter()

    def stage(self, text: str) -> None:
        """A new stage, e.g. 'preparing the data' or 'test with test-time augmentation'."""
        self._close_bar()
        self._write({"stage": text})

    def member_begins(self, member: int, n_members: int, n_epochs: int) -> None:
        self.member_started = self.epoch_started = time.perf_counter()
        self.epoch_times = []
        self._write({"stage": "training", "member": member + 1, "members": n_members, "epoch": 0,
                     "epochs": n_epochs})
        if os.environ.get(HEADLESS) is None and _in_notebook():
            from tqdm.auto import tqdm

            self._close_bar()
            self.bar = tqdm(total=n_epochs, desc=f"member {member + 1}/{n_members}", leave=False)

    def epoch_done(self, member: int, n_members: int, epoch: int, n_epochs: int, loss: float | None) -> None:
        now = time.perf_counter()
        self.epoch_times.append(now - self.epoch_started)
        self.epoch_started = now
        left = self._time_left(member, n_members, epoch, n_epochs)
        self._write({"stage": "training", "member": member + 1, "members": n_members, "epoch": epoch,
                     "epochs": n_epochs, "loss": loss, "left_s": left})
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss {loss:.3e}" if loss is not None else "")

    def member_done(self, seconds: float) -> None:
        self.member_times.append(seconds)
        self._close_bar()

    def _time_left(self, member: int, n_members: int, epoch: int, n_epochs: int) -> float:
        """This member's remaining epochs at its pace so far, then the remaining members at the members' pace (or,
        before the first is done, at this member's epoch pace: an upper bound where early stopping may cut in)."""
        per_epoch = sum(self.epoch_times) / len(self.epoch_times)
        per_member = (sum(self.member_times) / len(self.member_times)) if self.member_times else per_epoch * n_epochs
        return per_epoch * (n_epochs - epoch) + per_member * (n_members - member - 1)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _write(self, status: dict[str, Any]) -> None:
        try:
            write_json(self.path, {**status, "time": time.time()}, indent=None)
        except OSError:
            pass  # progress is a courtesy: never let it stop a run


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:
        return False


def describe(status: dict[str, Any]) -> str:
    """One line for a status, e.g. 'member 3/10, epoch 7/15, validation loss 2.31e-04, about 2 min left'."""
    if status.get("stage") != "training" or "member" not in status:
        return str(status.get("stage", ""))
    line = f"member {status['member']}/{status['members']}, epoch {status['epoch']}/{status['epochs']}"
    if status.get("loss") is not None:
        line += f", validation loss {status['loss']:.3e}"
    if status.get("left_s") is not None:
        line += f", about {_duration(status['left_s'])} left"
    return line


class Watcher:
    """Shows a run's status file while it runs: a live line on a terminal, else one line per stage or member. It
    reads the file ten times a second, since a quick run's member can train in a third of a second."""

    def __init__(self, path: Path, stream: TextIO | None = None, interval: float = 0.1) -> None:
        stream = sys.stdout if stream is None else stream  # the run's story goes to stdout; errors alone to stderr
        self.path, self.stream, self.interval = Path(path), stream, interval
        self.live = stream.isatty()
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._last_key: Any = None
        self._width = 0

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def _read(self) -> dict[str, Any] | None:
        try:
            status = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return status if status.get("time", 0) >= self.started else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            status = self._read()
            if status is None:
                continue
            line = describe(status)
            if self.live:
                self._width = max(self._width, len(line))
                self.stream.write("\r" + line.ljust(self._width))
                self.stream.flush()
            else:
                key = (status.get("stage"), status.get("member"))
                if status.get("epoch") == 0:
                    continue  # a member is shown once its first epoch is done, with the time left
                if key != self._last_key:
                    self._last_key = key
                    self.stream.write(line + "\n")
                    self.stream.flush()
