"""Build `paper_reference.csv` from the per-machine result files the paper published (GilesStrong/HiggsML_Lumin,
paper_results/, one `<paper name>_<machine>.json` per experiment and machine):

    python -m modules.commands.paper_build /path/to/paper_results [--out modules/results/paper_reference.csv]

As the original's `Result` class, only the paper's six named machines are read; any other file (such as the misspelt
`42_baseline+aug_icaurs.json`) is left out and named. Each score becomes one row `machine = mean` with its mean over
the machines that have it and the standard error std(ddof=1)/sqrt(n); each time becomes one row per machine. Scores
of the form [mean, std over folds] contribute their mean. An experiment recorded only under `_no_tta` names (the
ablations 38-41) gets the plain names, as this project records them. Rows name this project's experiment where a
notebook's metadata gives that paper name.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path

from modules import record

MACHINES = ("helios_cuda", "helios_cpu", "mbp", "daedalus", "icarus", "morpheus")
"""The paper's machines, as its `Result` class reads them."""

COLUMNS = ("experiment", "paper_name", "metric", "machine", "n", "value", "se")
_FILE = re.compile(rf"^(?P<name>.+)_(?P<machine>{'|'.join(MACHINES)})\.json$")


def read_published(folder: Path) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """paper name -> machine -> its results, for the six machines' files in `folder`; and the names of the files
    left out."""
    found: dict[str, dict[str, dict]] = {}
    skipped = []
    for path in sorted(Path(folder).glob("*.json")):
        match = _FILE.match(path.name)
        if match is None:
            skipped.append(path.name)
            continue
        try:
            data = record.read(path)
        except record.RecordError as err:
            raise ValueError(f"{path.name}: {err}") from None
        name, machine = match["name"], match["machine"]
        if (data.exp_name, data.machine) != (name, machine):
            raise ValueError(f"{path.name}: names {data.exp_name!r} on {data.machine!r}")
        found.setdefault(name, {})[machine] = data.results
    return found, skipped


def plain_name(metric: str, recorded: Collection[str]) -> str:
    """A recorded metric's name, with `_no_tta` dropped where the plain name is not recorded."""
    plain = metric.removesuffix("_no_tta")
    return metric if plain in recorded else plain


def paper_id(name: str) -> int:
    return int(name.split("_", 1)[0])


def _number(value: float) -> str:
    return f"{value:.6g}"


def reference_rows(folder: Path, experiment_of: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The reference table's rows (as text, the CSV's columns) from the published files in `folder`, ordered by paper
    ID, paper name, metric as recorded and machine. `experiment_of` maps a paper name to this project's experiment
    (default: the notebooks' metadata)."""
    if experiment_of is None:
        from modules.results.study import steps

        experiment_of = {step.paper_name: step.name for step in steps()}
    found, _ = read_published(folder)
    rows = []
    for name in sorted(found, key=lambda n: (paper_id(n), n)):
        per_machine = found[name]
        for recorded in sorted({metric for results in per_machine.values() for metric in results}):
            values = {m: r[recorded] for m, r in per_machine.items() if recorded in r}
            metric = {plain_name(recorded, r) for r in per_machine.values() if recorded in r}.pop()
            base = {"experiment": experiment_of.get(name, ""), "paper_name": name, "metric": metric}
            if "_time" in metric:
                for machine in sorted(values):
                    rows.append({**base, "machine": machine, "n": "1", "value": _number(values[machine]), "se": ""})
                continue
            xs = [float(v[0] if isinstance(v, list) else v) for v in values.values()]
            n = len(xs)
            mean = math.fsum(xs) / n
            se = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1) / n) if n > 1 else math.nan
            rows.append({**base, "machine": "mean", "n": str(n), "value": _number(mean),
                         "se": "" if math.isnan(se) else _number(se)})
    return rows


def reference_csv(folder: Path, experiment_of: Mapping[str, str] | None = None) -> str:
    """The text of `paper_reference.csv` built from `folder`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)  # lines end in CRLF, as the csv module writes them
    writer.writeheader()
    writer.writerows(reference_rows(folder, experiment_of))
    return out.getvalue()
