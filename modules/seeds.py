"""One way to derive a seed from others: every seed a run uses (each ensemble member's, each search trial's training
and proposal) is NumPy's SeedSequence of the machine's seed and an index, so streams are independent and the same
index always gets the same seed, whatever ran before it."""

from __future__ import annotations

import numpy as np

TRIAL_OFFSET = 10_000
"""Added to a search trial's index when seeding its training, so it never shares a stream with its proposal."""


def derive(*parts: int) -> int:
    """The seed derived from `parts` (e.g. the machine's seed and a member's index), as a 32-bit integer."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])
