"""What was written, kept to check it later: the size and SHA-256 of each file of a prepared cache or a trained
member, recorded when it is made, compared before it is used; a folder or member that fails is set aside (moved,
never deleted) for a look, and made again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SET_ASIDE = "set-aside"
"""The folder, beside what was damaged, that damaged caches and members are moved into."""


def sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def manifest(base: Path, files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of each of `files`, by its path relative to `base`."""
    return {path.relative_to(base).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256(path)}
            for path in sorted(files)}


def difference(base: Path, written: Any) -> str | None:
    """How the files under `base` differ from the manifest `written` (missing, another size, another SHA-256), or
    None when every one is as written; a manifest that is not one says so."""
    if not isinstance(written, dict) or not written:
        return "no sizes and checksums recorded"
    for name, facts in written.items():
        path = base / name
        if not isinstance(facts, dict):
            return f"the record of {name} is not a size and checksum"
        if not path.is_file():
            return f"{name} missing"
        size = path.stat().st_size
        if size != facts.get("bytes"):
            return f"{name} is {size:,} bytes where {facts.get('bytes'):,} were written"
        if sha256(path) != facts.get("sha256"):
            return f"{name} is not the file written (its SHA-256 differs)"
    return None


def set_aside(paths: Iterable[Path], into: Path, name: str) -> Path:
    """Move `paths` (those that exist) into `into/<name>-<time>/` and return that folder."""
    aside = into / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    aside.mkdir(parents=True)
    for path in paths:
        if path.exists():
            os.replace(path, aside / path.name)
    return aside
