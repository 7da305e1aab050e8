"""Advisory file locks (fcntl) for work that must not run twice at once: one run per experiment and machine, one
search per machine and folder, one build per prepared-data cache. A lock belongs to its process, so a killed run
never leaves one held."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modules.errors import UserError

_HELD: dict[Path, IO[str]] = {}
"""Locks this process holds through `hold`, so that taking one again (a notebook cell run twice) is not refused."""


def hold(path: Path, what: str) -> IO[str]:
    """Take the lock at `path` without waiting and return its handle, which keeps it until closed or the process
    ends; if another process holds it, a UserError saying `what` is already running. Taking a lock this process
    already holds returns the same handle."""
    path = Path(path).resolve()
    held = _HELD.get(path)
    if held is not None and not held.closed:
        return held
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"{what} is already running in another process (lock {path}); wait for it to finish") from None
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
