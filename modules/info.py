"""The versions of the packages that decide the results, which every record keeps and `higgsml info` shows."""

from __future__ import annotations

from importlib import metadata

PACKAGES = ("lumin", "torch", "numpy", "pandas", "scikit-learn", "papermill", "dask", "scikit-optimize")


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the results."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
