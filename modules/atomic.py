"""Writing files so that nobody ever reads half of one: write to a temporary name in the same folder, then rename
(atomic on POSIX). A failure leaves the earlier file, if any, untouched and no temporary file behind."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status), else by setting and
    restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_open_would(path: Path | str) -> None:
    """Give a folder made by mkdtemp (or a file by mkstemp), which only its owner can read, the permissions mkdir()
    or open() would have given it under the user's umask, so that caches in a shared folder can be read by the
    others the umask lets read them."""
    full = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, full & ~umask())


def write_with(path: Path, write: Callable[[Path], None], before_replace: Callable[[], None] | None = None) -> Path:
    """Replace `path` with what `write(temporary_path)` writes (the temporary name keeps `path`'s suffix, from which
    NumPy and Matplotlib tell the format) in one step; `before_replace()` runs once the new file is safely written,
    just before it takes the old one's place (to keep a copy of the old one, say)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}{path.suffix}"  # made by `write`, so with the umask's mode
    try:
        write(tmp)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: Path, text: str, before_replace: Callable[[], None] | None = None) -> Path:
    """Replace `path` with `text` in one step (see `write_with`)."""
    def write(tmp: Path) -> None:
        with open(tmp, "x") as stream:
            stream.write(text)

    return write_with(path, write, before_replace)


def _plain(value: Any) -> Any:
    """NumPy numbers as Python numbers; anything else JSON cannot hold (paths, ...) as its text."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, TypeError, RuntimeError):  # an array of several numbers: as its text, as before
            pass
    return str(value)


def write_json(path: Path, data: Any, indent: int | None = 1, before_replace: Callable[[], None] | None = None) -> Path:
    """Replace `path` with `data` as JSON in one step (see `write_text`)."""
    return write_text(path, json.dumps(data, indent=indent, default=_plain) + "\n", before_replace)
