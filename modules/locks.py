"""Advisory file locks (fcntl) for work that must not run twice at once: one run per experiment and machine, one
search per machine and folder, one build per prepared-data cache. A lock belongs to its process, so a killed run
never leaves one held."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modules.errors import UserError

_HELD: dict[Path, IO[str]] = {}
"""Locks this process holds through `hold`, so that taking one again (a notebook cell run twice) is not refused."""


def _holder(handle: IO[str]) -> int | None:
    """The process id the lock's holder wrote into the lock file, if any."""
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None


def hold(path: Path, what: str, parent_may_hold: bool = False) -> IO[str]:
    """Take the lock at `path` without waiting and return its handle, which keeps it until closed or the process
    ends; if another process holds it, a UserError saying `what` is already running. Taking a lock this process
    already holds returns the same handle. With `parent_may_hold`, a lock this process's parent holds counts as this
    process's own: `higgsml run` takes a run's lock before it starts the notebook's kernel, whose session then takes
    it again. The holder writes its process id into the file (opened without truncating, so a refused process never
    erases it)."""
    path = Path(path).resolve()
    held = _HELD.get(path)
    if held is not None and not held.closed:
        return held
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(handle)
        if parent_may_hold and holder is not None and holder == os.getppid():
            return handle
        handle.close()
        by = f"process {holder}, " if holder is not None else ""
        raise UserError(f"{what} is already running in another process ({by}lock {path}); wait for it to "
                        f"finish") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _HELD[path] = handle
    return handle


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """`hold` for the duration of a block (refused, too, where this process already holds it)."""
    path = Path(path).resolve()
    if path in _HELD and not _HELD[path].closed:
        raise UserError(f"{what} is already running in this process (lock {path})")
    handle = hold(path, what)
    try:
        yield
    finally:
        _HELD.pop(path, None)
        handle.close()


@contextlib.contextmanager
def waiting(path: Path) -> Iterator[None]:
    """Wait for the lock at `path`, hold it for the block (for work another process may be finishing right now)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
