"""Plots in the field's style (mplhep's ATLAS style), saved as PNG and PDF beside each other so they can be read
without the notebook; LUMIN's own plotting functions are captured the same way when they show a figure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from modules import atomic

FORMATS = (".png", ".pdf")


def style() -> contextlib.AbstractContextManager[None]:
    """The ATLAS style of mplhep, for `with plots.style(): ...`."""
    import matplotlib.pyplot as plt
    import mplhep

    return plt.style.context(mplhep.style.ATLAS)


def save_figure(fig: Any, stem: Path) -> list[Path]:
    """Write `fig` as stem.png and stem.pdf, each through a temporary name, and return the paths."""
    stem = Path(stem)
    return [atomic.write_with(stem.with_suffix(fmt), lambda tmp: fig.savefig(tmp, bbox_inches="tight", dpi=150))
            for fmt in FORMATS]


@contextlib.contextmanager
def saved_as(stem: Path) -> Iterator[list[Path]]:
    """Save the figures a plotting function shows inside the block (LUMIN's call `plt.show()`) as PNG and PDF: the
    first at `stem`, any later ones at `stem_2`, `stem_3`, ..."""
    import matplotlib.pyplot as plt

    original, written, shown = plt.show, [], [0]

    def show(*args: Any, **kwargs: Any) -> None:
        shown[0] += 1
        target = Path(stem) if shown[0] == 1 else Path(stem).with_name(f"{Path(stem).name}_{shown[0]}")
        written.extend(save_figure(plt.gcf(), target))
        original(*args, **kwargs)

    plt.show = show
    try:
        yield written
    finally:
        plt.show = original


def class_distributions(values: np.ndarray, target: np.ndarray, weight: np.ndarray, xlabel: str, stem: Path,
                        dataset: str, bins: int = 40) -> list[Path]:
    """Weighted, unit-normalised distributions of `values` for signal and background, saved as PNG and PDF;
    the legend names the dataset (real or SIMULATED)."""
    import matplotlib.pyplot as plt

    values, target, weight = np.asarray(values, float), np.asarray(target), np.asarray(weight, float)
    edges = np.histogram_bin_edges(values[np.isfinite(values)], bins=bins)
    with style():
        fig, ax = plt.subplots(figsize=(8, 6))
        for label, cls in (("Background", 0), ("Signal", 1)):
            chosen = (target == cls) & np.isfinite(values)
            ax.hist(values[chosen], bins=edges, weights=weight[chosen], density=True, histtype="step", linewidth=2,
                    label=f"{label} ({dataset})")
        ax.set_xlabel(xlabel)
        unit = " [GeV$^{-1}$]" if xlabel.endswith("[GeV]") else ""
        ax.set_ylabel(r"$\frac{1}{\sigma}\,\frac{d\sigma}{dx}$" + unit)
        ax.legend()
        written = save_figure(fig, stem)
        plt.show()
        plt.close(fig)
    return written
