"""The identity of a data file, carried by every prepared data set and every result, so that results obtained on
different data (real, simulated, subsets) are never aggregated together."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".meta.json"
"""A generator writes `<file>.meta.json` beside what it generates (e.g. the simulation's version, seed and size)."""


def sha1_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def file_identity(path: Path) -> dict[str, Any]:
    """Name, size and SHA-1 of a data file, plus its generator's metadata where a sidecar file gives it."""
    path = Path(path)
    identity: dict[str, Any] = {"file": path.name, "size": path.stat().st_size, "sha1": sha1_of(path)}
    sidecar = sidecar_path(path)
    if sidecar.exists():
        identity["generator"] = json.loads(sidecar.read_text())
    return identity


def is_simulated(identity: dict[str, Any]) -> bool:
    """True when the identity says the data came from our simulation rather than from ATLAS."""
    return identity.get("generator", {}).get("kind") == "simulated"
