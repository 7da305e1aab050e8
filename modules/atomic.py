"""Writing files so that nobody ever reads half of one: write to a temporary name in the same folder, then rename
(atomic on POSIX). A failure leaves the earlier file, if any, untouched and no temporary file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str, before_replace: Callable[[], None] | None = None) -> Path:
    """Replace `path` with `text` in one step; `before_replace()` runs once the new text is safely written, just
    before it takes the old file's place (to keep a copy of the old one, say)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


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
