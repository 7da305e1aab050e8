"""The paper's reference numbers: `paper_reference.csv` is exactly what `paper_build` makes of the per-machine files
the paper published (over the original's six machines only), every mean ± standard error and time in it is
recomputed here independently, and every number an experiment notebook's header quotes agrees with it. The checks
against the published files skip where they are absent (a clone outside this workplace)."""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from modules import paths
from modules.catalogue import experiment_info, experiments
from modules.commands import paper_build as paper_build_command
from modules.results import paper_build
from modules.results.paper import KAGGLE_TOP3, REFERENCE, paper_result, reference_table

PUBLISHED = paths.PROJECT_ROOT.parent / "shared" / "reference" / "paper_results"
"""The paper's 168 per-machine result files, kept beside the checkout as the real excerpt is (absent elsewhere)."""

SIX = ("helios_cuda", "helios_cpu", "mbp", "daedalus", "icarus", "morpheus")

COLUMNS = {"val AMS max": "val_ams_max", "val AMS at cut": "val_ams_smooth", "public AMS": "test_public_ams",
           "private AMS": "test_private_ams", "public mean of folds": "test_public_ams_mean",
           "private mean of folds": "test_private_ams_mean", "private, no TTA": "test_private_ams_no_tta",
           "public AMS, mean of folds": "test_public_ams_mean"}
"""A header table's column -> the metric it shows (mean ± standard error)."""


@pytest.fixture(scope="module")
def published() -> Path:
    if not PUBLISHED.is_dir():
        pytest.skip(f"the paper's published result files are not available at {PUBLISHED}")
    return PUBLISHED


def published_value(folder: Path, paper_name: str, metric: str, machine: str) -> float | None:
    """One machine's recorded value of a metric as the reference names it (plain names for the ablations that
    recorded only `_no_tta` ones); None where that machine has no file or no such metric."""
    path = folder / f"{paper_name}_{machine}.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())["results"]
    value = results.get(metric, results.get(f"{metric}_no_tta"))
    return None if value is None else float(value[0] if isinstance(value, list) else value)


def rounded_alike(shown: str, value: float) -> bool:
    """Whether `shown` is `value` rounded to as many decimals as `shown` has."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return f"{value:.{decimals}f}" == shown


def consistent(shown: str, csv_text: str) -> bool:
    """Whether `shown` can be the rounding of a number the CSV's text (6 significant digits) is the rounding of: the
    CSV alone cannot settle a value on a rounding boundary (3.4325 may be 3.43249...)."""
    shown_step = Decimal(1).scaleb(Decimal(shown).as_tuple().exponent)
    csv_step = Decimal(1).scaleb(Decimal(csv_text).as_tuple().exponent)
    return abs(Decimal(shown) - Decimal(csv_text)) <= (shown_step + csv_step) / 2


def test_paper_build_reads_only_the_six_machines_and_gives_ablations_plain_names(tmp_path: Path) -> None:
    def publish(name: str, machine: str, results: dict) -> None:
        (tmp_path / f"{name}_{machine}.json").write_text(json.dumps({"exp_name": name, "machine": machine,
                                                                     "results": results}))

    for machine, ams in (("mbp", 3.0), ("icarus", 3.2), ("daedalus", 3.7)):
        publish("5_x", machine, {"test_public_ams": ams, "test_public_ams_mean": [ams + 0.1, 0.5], "train_time": 10.0})
    publish("5_x", "icaurs", {"test_public_ams": 9.0, "test_public_ams_mean": [9.0, 0.5], "train_time": 1.0})
    publish("40_y", "mbp", {"test_private_ams_no_tta": 3.5, "test_time_no_tta": 0.25})
    publish("40_y", "helios_cpu", {"test_private_ams_no_tta": 3.6, "test_time_no_tta": 0.5})
    rows = paper_build.reference_rows(tmp_path, {"5_x": "2_ours"})
    by_key = {(r["paper_name"], r["metric"], r["machine"]): r for r in rows}
    ams = by_key["5_x", "test_public_ams", "mean"]
    assert (ams["experiment"], ams["n"], ams["value"]) == ("2_ours", "3", "3.3")
    assert ams["se"] == f"{statistics.stdev([3.0, 3.2, 3.7]) / math.sqrt(3):.6g}" == "0.208167"
    assert by_key["5_x", "test_public_ams_mean", "mean"]["value"] == "3.4"  # the folds' mean, not their spread
    assert not any(r["machine"] == "icaurs" for r in rows)
    assert {(r["metric"], r["machine"], r["experiment"]) for r in rows if r["paper_name"] == "40_y"} == {
        ("test_private_ams", "mean", ""), ("test_time", "helios_cpu", ""), ("test_time", "mbp", "")}
    assert [r["paper_name"] for r in rows][0] == "5_x"  # ordered by paper ID, not as text
    out = tmp_path / "out" / "reference.csv"
    assert paper_build_command.main([str(tmp_path), "--out", str(out)]) == 0
    assert out.read_bytes() == paper_build.reference_csv(tmp_path).encode()
    assert [p.name for p in out.parent.iterdir()] == ["reference.csv"]  # no temporary file left


def test_the_reference_csv_is_exactly_what_paper_build_makes_of_the_published_files(published: Path) -> None:
    assert paper_build.reference_csv(published) == REFERENCE.read_bytes().decode(), (
        "regenerate it: python -m modules.commands.paper_build " + str(published))


def test_every_mean_se_and_time_is_recomputed_from_the_six_machines_files(published: Path) -> None:
    table = reference_table()
    assert set(table.machine) <= {*SIX, "mean"}
    expected = set()
    for path in published.glob("*.json"):
        data = json.loads(path.read_text())
        if data["machine"] in SIX:
            names = set(data["results"])
            for metric in names:
                plain = metric.removesuffix("_no_tta")
                metric = metric if plain in names else plain
                expected.add((data["exp_name"], metric, data["machine"] if "_time" in metric else "mean"))
    assert set(zip(table.paper_name, table.metric, table.machine, strict=True)) == expected
    assert len(table) == len(expected)
    for row in table.itertuples():
        values = [published_value(published, row.paper_name, row.metric, m) for m in SIX]
        values = [v for v in values if v is not None]
        where = f"{row.paper_name} {row.metric} {row.machine}"
        if row.machine == "mean":
            mean, se = statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))
            assert row.n == len(values), where
            assert f"{mean:.6g}" == f"{row.value:.6g}" and f"{se:.6g}" == f"{row.se:.6g}", where
        else:
            value = published_value(published, row.paper_name, row.metric, row.machine)
            assert row.n == 1 and f"{value:.6g}" == f"{row.value:.6g}", where


def test_the_corrected_experiments_are_over_the_six_named_machines() -> None:
    for name, private in (("6_swish_ensemble_embed_aug_cosine", "3.798 ± 0.011"), ("22_baseline_aug", "3.650 ± 0.016")):
        result = paper_result(name, blind=False)
        assert result.machines == sorted(SIX)
        assert {v.n for v in result.scores.values()} == {6}
        assert f"{result.scores['test_private_ams'].mean:.3f} ± {result.scores['test_private_ams'].se:.3f}" == private


@dataclass(frozen=True)
class Quote:
    """One number a notebook's header quotes: a score's mean or its standard error (machine 'mean'), a time on one
    machine, or the number of machines a mean is over (metric 'n')."""

    notebook: str
    paper_name: str
    metric: str
    machine: str
    part: str  # "value", "se" or "n"
    shown: str


def header_quotes(name: str, notebook: Path) -> list[Quote]:
    """Every number of a header's published result: the machines it is over, each cell of its table and each time."""
    paper_name = experiment_info(notebook)["paper_name"]
    cell = json.loads(notebook.read_text())["cells"][0]
    assert cell["cell_type"] == "markdown", name
    lines = "".join(cell["source"]).splitlines()
    claims = [re.search(r"mean ± standard error over (?:the paper's|its) (\d+) machines", line) for line in lines]
    claims = [c for c in claims if c]
    assert len(claims) == 1, f"{name}: one 'mean ± standard error over ... N machines' statement, found {len(claims)}"
    table = [line for line in lines if line.startswith("|")]
    assert len(table) >= 3 and set(table[1]) <= {"|", "-"}, f"{name}: no results table"
    header = [c.strip() for c in table[0].strip("|").split("|")]
    quotes, names = [], set()
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header), f"{name}: {line}"
        row_name = paper_name
        for column, text in zip(header, cells, strict=True):
            if column.startswith("pick"):
                row_name = paper_name.replace("*", text)
            elif column == "train time (mbp)":
                assert re.fullmatch(r"[\d.]+ s", text), f"{name}: {column}: {text}"
                quotes.append(Quote(name, row_name, "train_time", "mbp", "value", text.removesuffix(" s")))
            else:
                assert column in COLUMNS, f"{name}: unknown column {column!r}"
                mean, se = re.fullmatch(r"([\d.]+) ± ([\d.]+)", text).groups()
                quotes += [Quote(name, row_name, COLUMNS[column], "mean", "value", mean),
                           Quote(name, row_name, COLUMNS[column], "mean", "se", se)]
        names.add(row_name)
    quotes += [Quote(name, n, "", "mean", "n", claims[0].group(1)) for n in sorted(names)]
    times = [line for line in lines if line.startswith("Train time:")]
    assert len(times) == (0 if "train time (mbp)" in header else 1), f"{name}: one 'Train time: ...' line"
    for line in times:
        pair = r"[\d.]+ s \(\w+\)"
        assert re.fullmatch(rf"Train time: {pair}(, {pair})*; test time {pair}(, {pair})*\.", line), line
        train, test = line.split("; test time ")
        for metric, part in (("train_time", train), ("test_time", test)):
            quotes += [Quote(name, paper_name, metric, machine, "value", shown)
                       for shown, machine in re.findall(r"([\d.]+) s \((\w+)\)", part)]
    return quotes


def all_quotes() -> list[Quote]:
    """The quotes of every experiment the paper ran (an experiment beyond the paper quotes nothing)."""
    found = {name: notebook for name, notebook in experiments(paths.NOTEBOOKS_DIR).items()
             if not experiment_info(notebook).get("beyond_paper")}
    assert len(found) == 23
    return [quote for name, notebook in found.items() for quote in header_quotes(name, notebook)]


def test_every_notebook_header_quotes_the_reference_as_displayed() -> None:
    with REFERENCE.open(newline="") as stream:
        rows = list(csv.DictReader(stream))  # as text: the digits the CSV holds
    text = {(r["paper_name"], r["metric"], r["machine"]): (r["value"], r["se"]) for r in rows}
    quotes = all_quotes()
    assert len({q.notebook for q in quotes}) == 23 and len(quotes) > 23 * 12
    for q in quotes:
        if q.part == "n":
            ns = {r["n"] for r in rows if r["paper_name"] == q.paper_name and r["machine"] == "mean"}
            assert ns == {q.shown}, f"{q.notebook}: over {q.shown} machines, the reference has {ns}"
            continue
        assert (q.paper_name, q.metric, q.machine) in text, f"{q.notebook}: {q} is not in the reference"
        value, se = text[q.paper_name, q.metric, q.machine]
        assert consistent(q.shown, value if q.part == "value" else se), f"{q.notebook}: {q}, reference {value} ± {se}"
    for notebook in {q.notebook for q in quotes if q.metric == "test_time"}:  # its 'Train time: ...' line
        for metric, machines in (("train_time", ("mbp", "helios_cuda", "helios_cpu")),
                                 ("test_time", ("helios_cuda", "helios_cpu"))):
            shown = [q.machine for q in quotes if q.notebook == notebook and q.metric == metric]
            paper_name = next(q.paper_name for q in quotes if q.notebook == notebook)
            assert shown == [m for m in machines if (paper_name, metric, m) in text], f"{notebook}: {metric} {shown}"
    final = experiments(paths.NOTEBOOKS_DIR)["13_swish_ensemble_embed_aug_onecycle_dense"]
    winner = re.findall(r"Kaggle winner's private AMS was ([\d.]+)\.", "".join(
        json.loads(final.read_text())["cells"][0]["source"]))
    assert winner and all(rounded_alike(w, KAGGLE_TOP3[0][1]) for w in winner)


def test_every_notebook_header_rounds_the_published_values_exactly(published: Path) -> None:
    for q in all_quotes():
        if q.part == "n":
            continue
        if q.machine != "mean":
            value = published_value(published, q.paper_name, q.metric, q.machine)
        else:
            values = [published_value(published, q.paper_name, q.metric, m) for m in SIX]
            values = [v for v in values if v is not None]
            value = (statistics.fmean(values) if q.part == "value"
                     else statistics.stdev(values) / math.sqrt(len(values)))
        assert rounded_alike(q.shown, value), f"{q.notebook}: {q}, published {value}"
