"""Silence LUMIN's chatter (per-fold prints, `rm` run through os.system) and the libraries' warnings about their own
internals, where they only add noise."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

KNOWN_WARNINGS = (
    (UserWarning, r"pkg_resources is deprecated"),  # LUMIN's feature module imports pkg_resources
    (UserWarning, r"`distplot` is a deprecated function"),  # LUMIN's plots call seaborn's distplot
    (FutureWarning, r"`distplot` is a deprecated function"),
)
"""Warnings raised inside the pinned libraries about their own internals: nothing a user of this project can act on."""


def silence_known_warnings() -> None:
    """Hide exactly the warnings in KNOWN_WARNINGS; every other warning still shows."""
    for category, message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Send stdout and stderr, including those of child processes, to /dev/null for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as null:
        try:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
