"""Results across machines and experiments: reading the results folder (grouped by dataset and hardware), one
experiment's mean ± standard error over machines and its comparison with another, the paper's published numbers as
a reference, the study's summary plots, and the Markdown report."""

from modules.results.frame import table

__all__ = ["table"]
