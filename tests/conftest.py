"""Shared fixtures: the real excerpt of the CERN file (skipped cleanly where absent) and scratch folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules import paths

REAL_EXCERPT = paths.SHARED_DATA_DIR / "atlas-higgs-challenge-2014-v2-excerpt-10k.csv.gz"


@pytest.fixture(scope="session")
def real_excerpt() -> Path:
    """Path of the 10,000 real rows kept beside the checkout; tests using it skip where it is absent."""
    if not REAL_EXCERPT.exists():
        pytest.skip(f"real excerpt not available at {REAL_EXCERPT}")
    return REAL_EXCERPT
