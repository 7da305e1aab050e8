"""Writing files so that nobody ever reads half of one: write to a temporary name in the same folder, then rename
(atomic on POSIX). A failure leaves the earlier file, if any, untouched and no temporary file behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> Path:
    """Replace `path` with `text` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
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
