"""The results report: per dataset, this project's scores beside the paper's, each technique's change and whether it
agrees with the paper's, the times and the plots; private scores only when unblinded."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from modules.atomic import write_text
from modules.errors import UserError
from modules.results import findings
from modules.results.comparison import ExpComp
from modules.results.frame import frame
from modules.results.paper import paper_result
from modules.results.records import Dataset, Record, load_records
from modules.results.result import Result, format_value
from modules.results.study import Step, steps

KEY_SCORES = ["val_ams_smooth", "test_public_ams", "test_public_ams_mean"]
PRIVATE_SCORES = ["test_private_ams", "test_private_ams_mean"]
HEADINGS = {"val_ams_smooth": "val. AMS at cut", "test_public_ams": "public AMS",
            "test_public_ams_mean": "public AMS, mean of folds", "test_private_ams": "private AMS",
            "test_private_ams_mean": "private AMS, mean of folds"}
PAPER_DEVICES = ("mbp", "helios_cuda", "helios_cpu")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def chosen(dataset: Dataset, spec: str) -> bool:
    if spec == "all":
        return True
    if spec in ("simulated", "real"):
        return dataset.simulated == (spec == "simulated")
    return spec.lower() in dataset.label.lower()


def group_rows(records: list[Record]) -> dict[Dataset, pd.DataFrame]:
    """Dataset -> the rows of the records' table on it."""
    rows = frame(records)
    return {Dataset(*key): on_dataset for key, on_dataset in rows.groupby(["dataset", "dataset_label", "simulated"])}


def results_of(rows: pd.DataFrame, blind: bool) -> dict[str, Result]:
    """Experiment name -> Result over one dataset's rows (its machines and seeds)."""
    return {name: Result.from_table(runs, blind) for name, runs in rows.groupby("experiment")}


def group_results(records: list[Record], blind: bool) -> dict[Dataset, dict[str, Result]]:
    """Dataset -> experiment name -> Result over that dataset's machines: the records' table grouped."""
    return {dataset: results_of(rows, blind) for dataset, rows in group_rows(records).items()}


def _cell(result: Result | None, metric: str) -> str:
    value = result.scores.get(metric) if result is not None else None
    return str(value) if value is not None else "–"


def _difference(here: Result, paper: Result | None, metric: str) -> str:
    if paper is None or metric not in here.scores or metric not in paper.scores:
        return "–"
    a, b = here.scores[metric], paper.scores[metric]
    return format_value(a.mean - b.mean, (a.se**2 + b.se**2) ** 0.5)


def _delta(delta: findings.Delta | None) -> str:
    return "–" if delta is None else str(delta)


def _seeds(delta: findings.Delta | None) -> str:
    return "–" if delta is None else f"{delta.n}{' paired' if delta.paired else ''}"


def _time_ratio(result: Result | None, before: Result | None, device_of: str | None = None) -> str:
    if result is None or before is None:
        return "–"
    earlier = before.times.get("train_time", {})
    ratios = [f"{v.mean / earlier[d].mean:.2f}" for d, v in result.times.get("train_time", {}).items()
              if d in earlier and (device_of is None or d == device_of)]
    return " / ".join(ratios) or "–"


def section(dataset: Dataset, rows: pd.DataFrame, study: list[Step], blind: bool, plots_dir: Path,
            report_dir: Path, found: list[findings.Finding]) -> list[str]:
    """One dataset's part of the report (its rows of the records' table, and the findings tested on them), with its
    plots written under `plots_dir`."""
    results = results_of(rows, blind)
    scores = KEY_SCORES + ([] if blind else PRIVATE_SCORES)
    order = [s for s in study if s.name in results]
    extra = sorted(set(results) - {s.name for s in study})
    machines = sorted({m for r in results.values() for m in r.machines})
    devices = sorted({d for r in results.values() for d in r.devices})
    papers = {s.name: paper_result(s.name, blind) for s in order}
    lines = [f"## {dataset.label}", ""]
    if dataset.simulated:
        lines += ["**Simulated data: these are not the paper's reproduction. The paper's columns are on real data and "
                  "are shown for orientation only.**", ""]
    plural = "s" if len(results) != 1 else ""
    lines += [f"{len(results)} experiment{plural}; machines: {', '.join(machines)}; devices: {'; '.join(devices)}.", ""]

    lines += ["### Scores: this project (mean ± standard error over machines; one machine: over test folds where "
              "the metric has them) beside the paper", ""]
    head = ["#", "experiment", "n"] + [HEADINGS[m] for m in scores] + [f"paper: {HEADINGS[m]}" for m in scores]
    head += ["here − paper (public AMS, mean of folds)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in order:
        here, paper = results[step.name], papers[step.name]
        n = max((v.n for v in here.scores.values()), default=0)
        cells = [str(step.number), f"`{step.name}`", str(n)] + [_cell(here, m) for m in scores]
        cells += [_cell(paper, m) for m in scores] + [_difference(here, paper, "test_public_ams_mean")]
        lines.append("| " + " | ".join(cells) + " |")
    for name in extra:
        lines.append(f"| – | `{name}` | " + " | ".join(_cell(results[name], m) for m in scores) + " |")
    lines.append("")

    lines += ["### Each technique against the experiment it was added to", "",
              f"**{findings.summary(found)}.**", "",
              "Δ: the change in public AMS (mean of folds). Here, the difference of the means over seeds: paired by "
              "seed where both experiments ran at least two of the same seeds (the standard error of the per-seed "
              "differences), else with the errors combined as independent (a single run's error being its spread over "
              "the test folds, which overstates it for two runs scored on the same test events). The paper's: the "
              "difference of its means over its machines, errors combined as independent. Agrees: the two Δ within "
              f"{findings.AGREEMENT:g} combined standard errors. Train time as the ratio to the earlier experiment's "
              "(here per device; the paper's on mbp / helios_cuda / helios_cpu).", ""]
    lines += ["| # | adds | compared with | seeds here | Δ here | Δ paper | agrees | train-time ratio here | "
              "train-time ratio paper |", "|---|---|---|---|---|---|---|---|---|"]
    for finding in found:
        step = finding.step
        if step.name not in results:
            continue
        before = results.get(step.compare_to or "")
        paper_now, paper_before = papers[step.name], paper_result(step.compare_to or "", blind)
        paper_ratio = " / ".join(_time_ratio(paper_now, paper_before, d) for d in PAPER_DEVICES)
        note = "" if before is not None else " (not run here)"
        lines.append(f"| {step.number} | {step.tag} | {(step.compare_to or '').split('_')[0]}{note} | "
                     f"{_seeds(finding.here)} | {_delta(finding.here)} | {_delta(finding.paper)} | "
                     f"{finding.verdict} | {_time_ratio(results[step.name], before)} | {paper_ratio} |")
    lines.append("")

    lines += ["### Times (seconds)", "", "| # | device | train | validation | test | paper train (mbp / helios_cuda / "
              "helios_cpu) |", "|---|---|---|---|---|---|"]
    for step in order:
        here, paper = results[step.name], papers[step.name]
        paper_train = " / ".join(str(paper.times["train_time"][d]) if paper and d in paper.times.get("train_time", {})
                                 else "–" for d in PAPER_DEVICES)
        for device in here.devices:
            cells = [str(here.times.get(m, {}).get(device, "–")) for m in ("train_time", "val_time", "test_time")]
            lines.append(f"| {step.number} | {device} | " + " | ".join(cells) + f" | {paper_train} |")
    lines.append("")

    if order:
        comp = ExpComp([results[s.name] for s in order], {name: p for name, p in papers.items() if p},
                       labels=[s.label for s in order])
        stem = plots_dir / slug(dataset.label)
        figures = [("AMS over the experiments", comp.plot_ams(stem.with_name(stem.name + "_ams"))),
                   ("Train time per device", comp.plot_times(stem.with_name(stem.name + "_train_time"))),
                   ("Train time relative to the first experiment",
                    comp.plot_times(stem.with_name(stem.name + "_train_time_frac"), mode="frac")),
                   ("Test time per device", comp.plot_times(stem.with_name(stem.name + "_test_time"), "test_time"))]
        if any(f.here is not None and f.paper is not None for f in found):
            figures.append(("Each technique's Δ here against the paper's",
                            findings.plot(found, stem.with_name(stem.name + "_findings"), dataset.label)))
        lines += ["### Plots", ""]
        for title, written in figures:
            png = written[0].relative_to(report_dir)
            lines += [f"**{title}** ([PDF]({png.with_suffix('.pdf')}))", "", f"![{title}]({png})", ""]
    return lines


def build(results_dir: Path, out: Path, blind: bool = True, dataset_spec: str = "all",
          quick: bool = False) -> tuple[str, list[str]]:
    """Write the report (atomically) and its plots; return its text and the lines about skipped files. With
    `quick`, the report holds the quick runs instead (a quick reproduction's, which tests the machinery)."""
    records, skipped = load_records(results_dir, quick)
    grouped = {ds: rows for ds, rows in group_rows(records).items() if chosen(ds, dataset_spec)}
    if not grouped:
        raise UserError(f"{results_dir}: no {'quick' if quick else 'full'}-run results for dataset "
                        f"{dataset_spec!r} to report on")
    study = steps()
    plots_dir = out.with_suffix("")
    ordered = sorted(grouped, key=lambda d: (d.simulated, d.label))
    found = {dataset: findings.findings(grouped[dataset], study, blind) for dataset in ordered}
    lines = ["# Results report", "",
             f"Written by `higgsml report` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {len(records)} records in "
             f"`{results_dir.name}/` ({len(skipped)} files skipped). "
             + ("**Blind**: private-leaderboard scores are hidden (`higgsml report --unblind` shows them)."
                if blind else "**Unblinded**: private-leaderboard scores are shown."),
             "", *[f"- **{dataset.label}**: {findings.summary(found[dataset])}." for dataset in ordered], "",
             "The paper's numbers are the mean ± standard error over its machines on real data (G. Strong, "
             "arXiv:2002.01427); results on different datasets are reported apart and never averaged together.", ""]
    if quick:
        lines += ["**Quick mode** (a few thousand events, at most 2 members, 2 epochs): these runs test the machinery; "
                  "their numbers are not the study's.", ""]
    for dataset in ordered:
        lines += section(dataset, grouped[dataset], study, blind, plots_dir, out.parent, found[dataset])
    if skipped:
        lines += ["## Files skipped", "", *[f"- {line}" for line in skipped], ""]
    text = "\n".join(lines)
    write_text(out, text)
    return text, skipped


def report_path(out: Path) -> Path:
    """Where the report goes: `out`, or `out/report.md` where `out` is an existing folder (as `cp` treats a folder).
    Where the report or its plots folder cannot be written, one line says so before anything is written."""
    out = out / "report.md" if out.is_dir() else out
    plots = out.with_suffix("")
    if out.is_dir():
        raise UserError(f"{out}: is a folder, so the report cannot be written there; give --out a file name")
    if not out.suffix:
        raise UserError(f"{out}: a report file needs a suffix such as .md (its plots go to the folder of its name "
                        f"without one); give a file name like {out}.md, or an existing folder")
    if plots.exists() and not plots.is_dir():
        raise UserError(f"{plots}: is a file, where the report's plots folder would go; move it or choose another "
                        f"--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UserError(f"{out.parent}: the report cannot be written there ({err.strerror or err})") from None
    return out
