"""Writing files so that nobody ever reads half of one: write to a temporary name in the same folder, then rename
(atomic on POSIX). A failure leaves the earlier file, if any, untouched and no temporary file behind."""

from __future__ import annotations

import json
import os
import tempfile
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
    """Give a file or folder made by mkstemp or mkdtemp (readable by its owner only) the permissions open() or
    mkdir() would have given it under the user's umask, so that records, caches and members in a shared folder can
    be read by the others the umask lets read them."""
    full = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, full & ~umask())


def write_text(path: Path, text: str) -> Path:
    """Replace `path` with `text` in one step (the file's permissions as open() would make them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        as_open_would(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _plain(value: Any) -> Any:
    """NumPy numbers as Python numbers; anything else JSON cannot hold (paths, ...) as its text."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return str(value)


def write_json(path: Path, data: Any, indent: int | None = 1) -> Path:
    """Replace `path` with `data` as JSON in one step."""
    return write_text(path, json.dumps(data, indent=indent, default=_plain) + "\n")
