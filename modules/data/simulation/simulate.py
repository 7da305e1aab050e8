"""Generate the simulated stand-in for the challenge file: the toy simulation's events in the official format,
with a sidecar saying they are simulated so nothing computed from them can pass for a result on real data."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from modules.data.identity import sidecar_path
from modules.data.kinematics import derived_features
from modules.data.simulation.config import (
    DEFAULT_SEED,
    DETECTOR,
    FIRST_EVENT_ID,
    GENERATION,
    GENERATOR,
    MASS_ESTIMATOR,
    PROCESSES,
    SELECTION,
    SIGNAL_FRACTION,
    VERSION,
    Process,
)
from modules.data.simulation.detector import reconstruct
from modules.data.simulation.mass import collinear_mass, mass_scatter
from modules.data.simulation.physics import TOPOLOGIES
from modules.data.simulation.writer import atomic_target, write_csv
from modules.errors import UserError
from modules.schema import (
    DER_FEATURES,
    FEATURES,
    FULL_FILE_ROWS,
    KAGGLE_SET_SIZES,
    KAGGLE_WEIGHT_TOTALS,
    MISSING,
    OPENDATA_COLUMNS,
    PRI_FEATURES,
)

FEATURE_DECIMALS = 3
WEIGHT_DECIMALS = 12
"""Weights keep 12 decimals (a multiple of writer.GROUP), enough for the smallest signal weights."""
DECIMALS: dict[str, int | None] = {
    "EventId": None, "PRI_jet_num": None, "Weight": WEIGHT_DECIMALS, "KaggleWeight": WEIGHT_DECIMALS,
    **{name: FEATURE_DECIMALS for name in FEATURES if name != "PRI_jet_num"},
}
"""How each numeric column is written (None: integer); Label and KaggleSet are text."""
INITIAL_EFFICIENCY = 0.1
MIN_EFFICIENCY = 0.002
OVERSAMPLING = 1.1
MAX_BATCH = 50_000
"""Generated events per step: small enough that numpy's temporary arrays stay in cache-friendly sizes."""
PARALLEL_FROM = 100_000
PART_EVENTS = 25_000
WORKERS = min(2, os.cpu_count() or 1)


def _workers(events: int) -> int:
    """Parallel workers for a file of `events` rows: one for small files, where starting workers costs more."""
    return WORKERS if events >= PARALLEL_FROM else 1


def default_filename(seed: int = DEFAULT_SEED, events: int = FULL_FILE_ROWS) -> str:
    """The cache name of a simulated file: generator version, seed and size, so a stale file is never reused.

    Uncompressed: written and read several times faster than gzip, for 200 MB at the full size."""
    return f"simulated-v{VERSION}-seed{seed}-{events}.csv"


def metadata(events: int, seed: int) -> dict:
    """What the sidecar file records about a simulated file."""
    return {
        "kind": "simulated", "generator": GENERATOR, "version": VERSION, "seed": seed, "events": events,
        "processes": {p.name: p.label for p in PROCESSES},
    }


def split_counts(total: int, shares: list[float]) -> np.ndarray:
    """Integers proportional to `shares` that sum exactly to `total` (largest remainders)."""
    exact = total * np.asarray(shares, float) / np.sum(shares)
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


Columns = dict[str, np.ndarray]


def generate_process(seed: np.random.SeedSequence, process: Process, count: int) -> Columns:
    """`count` selected events of one process: PRI columns plus the relative weight of each event."""
    rng = np.random.default_rng(seed)
    pieces: list[Columns] = []
    efficiency, remaining = INITIAL_EFFICIENCY, count
    while not pieces or remaining > 0:
        batch = min(MAX_BATCH, int(np.ceil(remaining / efficiency * OVERSAMPLING)) + 64)
        truth = TOPOLOGIES[process.topology](rng, process, batch, GENERATION, SELECTION)
        columns, rows = reconstruct(rng, truth, DETECTOR, SELECTION, GENERATION, process.activity)
        weight = np.asarray(process.isr_weights, float)[truth.isr_slice[rows]]
        if process.weight_spread > 0:
            weight *= np.exp(rng.normal(-process.weight_spread**2 / 2, process.weight_spread, len(weight)))
        columns["relative_weight"] = weight
        pieces.append({name: values[:remaining] for name, values in columns.items()})
        remaining -= len(pieces[-1]["relative_weight"])
        efficiency = max(len(rows) / batch, MIN_EFFICIENCY)
    return {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}


def generation_jobs(seed: int, counts: dict[str, int]) -> list[tuple[str, np.random.SeedSequence, int]]:
    """(process, random stream, events) of each generation job: every process cut into parts of at most
    PART_EVENTS, each part with its own stream, so that parallel workers finish together and the events do not
    depend on how many workers there are."""
    jobs = []
    for name, stream in zip(counts, np.random.SeedSequence(seed).spawn(len(counts)), strict=True):
        parts = split_counts(counts[name], [1.0] * max(1, -(-counts[name] // PART_EVENTS)))
        jobs += [(name, part_stream, int(part)) for part_stream, part in zip(stream.spawn(len(parts)), parts,
                                                                                 strict=True)]
    return jobs


def generate_all(seed: int, counts: dict[str, int], progress: bool) -> dict[str, Columns]:
    """Every process's events (in parallel for large files: same result)."""
    processes = {p.name: p for p in PROCESSES}
    jobs = generation_jobs(seed, counts)
    parts: dict[str, list[Columns]] = {name: [] for name in counts}
    bar = tqdm(total=len(jobs), desc="simulating", unit="part", disable=not progress)
    if _workers(sum(counts.values())) < 2:
        for name, stream, count in jobs:
            parts[name].append(generate_process(stream, processes[name], count))
            bar.update()
    else:
        with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [(name, pool.submit(generate_process, stream, processes[name], count))
                       for name, stream, count in jobs]
            for name, future in futures:
                parts[name].append(future.result())
                bar.update()
    bar.close()
    return {name: {column: np.concatenate([part[column] for part in pieces]) for column in pieces[0]}
            for name, pieces in parts.items()}


def kaggle_sets(rng: np.random.Generator, events: int) -> np.ndarray:
    """KaggleSet of each row in file order: training first, then public and private interleaved, unused last."""
    sizes = dict(zip(KAGGLE_SET_SIZES, split_counts(events, list(KAGGLE_SET_SIZES.values())), strict=True))
    test = np.repeat(np.array(["b", "v"]), [sizes["b"], sizes["v"]])
    return np.concatenate([np.full(sizes["t"], "t"), rng.permutation(test), np.full(sizes["u"], "u")])


def interleave(rng: np.random.Generator, generated: dict[str, Columns]) -> tuple[np.ndarray, Columns]:
    """The processes' events in random file order: which process (index in PROCESSES) each row holds, and the
    columns. Each process's events stay in their (random) generation order, so rows are written sequentially."""
    index_of = {p.name: i for i, p in enumerate(PROCESSES)}
    sizes = {name: len(columns["relative_weight"]) for name, columns in generated.items()}
    process_of_row = rng.permutation(np.repeat([index_of[name] for name in generated], list(sizes.values())))
    columns: Columns = {}
    for name, part in generated.items():
        rows = np.flatnonzero(process_of_row == index_of[name])
        for column, values in part.items():
            columns.setdefault(column, np.empty(len(process_of_row), values.dtype))[rows] = values
    return process_of_row, columns


def weights(relative: np.ndarray, process_of_row: np.ndarray, labels: np.ndarray,
            sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight (each class summing to its 2012 yield over the file, shared among processes by their yield shares)
    and KaggleWeight (the same renormalised within each KaggleSet and class)."""
    weight = np.zeros(len(relative))
    for index, process in enumerate(PROCESSES):
        rows = process_of_row == index
        shares = sum(p.yield_share for p in PROCESSES if p.label == process.label)
        total = KAGGLE_WEIGHT_TOTALS[process.label] * process.yield_share / shares
        weight[rows] = total * relative[rows] / relative[rows].sum()
    kaggle = np.zeros(len(relative))
    for label, total in KAGGLE_WEIGHT_TOTALS.items():
        for kaggle_set in KAGGLE_SET_SIZES:
            rows = (labels == label) & (sets == kaggle_set)
            kaggle[rows] = weight[rows] * total / weight[rows].sum()
    return weight, kaggle


def derived(primary: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every DER feature, computed from the (rounded) PRI features exactly as the file's are, then rounded.

    Large files are computed in row blocks on parallel threads (numpy releases the GIL): the same numbers, since
    every formula works row by row and the mass estimator's random scatter is drawn for all rows first."""
    events = len(primary["PRI_jet_num"])
    scatter = mass_scatter(rng, events, MASS_ESTIMATOR)
    blocks = [slice(rows[0], rows[-1] + 1) for rows in np.array_split(np.arange(events), _workers(events)) if len(rows)]
    out = {name: np.empty(events) for name in DER_FEATURES}

    def fill(rows: slice) -> None:
        frame = float_frame({name: values[rows] for name, values in primary.items()})
        part = derived_features(frame)
        part["DER_mass_MMC"] = collinear_mass(frame, MASS_ESTIMATOR, scatter[rows])
        for name in DER_FEATURES:
            values = part[name].to_numpy()
            out[name][rows] = np.where(values == MISSING, MISSING, np.round(values, FEATURE_DECIMALS))

    with ThreadPoolExecutor(len(blocks)) as pool:
        list(pool.map(fill, blocks))
    return out


def float_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame of float columns in one block filled in place (pandas would copy them again to consolidate)."""
    block = np.empty((len(next(iter(columns.values()))), len(columns)), order="F")
    for i, values in enumerate(columns.values()):
        block[:, i] = values
    return pd.DataFrame(block, columns=list(columns), copy=False)


def as_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame of the columns in the official order, built without copying the floats more than once."""
    frame = float_frame({name: columns[name] for name in OPENDATA_COLUMNS if columns[name].dtype == np.float64})
    for position, name in enumerate(OPENDATA_COLUMNS):
        if name not in frame:
            frame.insert(position, name, columns[name])
    return frame


def simulate(events: int = FULL_FILE_ROWS, seed: int = DEFAULT_SEED, progress: bool = False) -> pd.DataFrame:
    """A simulated data set of `events` rows in the official column order, deterministic in `seed`."""
    if events < 1:
        raise UserError(f"--events must be a positive number of events, not {events}")
    n_signal = int(round(events * SIGNAL_FRACTION))
    counts: dict[str, int] = {}
    for label, n_label in (("s", n_signal), ("b", events - n_signal)):
        processes = [p for p in PROCESSES if p.label == label]
        shares = split_counts(n_label, [p.event_share for p in processes])
        counts.update({p.name: int(c) for p, c in zip(processes, shares, strict=True)})
    generated = generate_all(seed, counts, progress)
    rng = np.random.default_rng([seed, len(PROCESSES)])
    process_of_row, columns = interleave(rng, generated)
    label_of = np.array([p.label for p in PROCESSES])
    labels = label_of[process_of_row]
    sets = kaggle_sets(rng, events)
    weight, kaggle_weight = weights(columns.pop("relative_weight"), process_of_row, labels, sets)
    primary = {name: columns[name] if name == "PRI_jet_num" else np.round(columns[name], FEATURE_DECIMALS)
               for name in PRI_FEATURES}
    return as_frame({"EventId": np.arange(FIRST_EVENT_ID, FIRST_EVENT_ID + events), **derived(primary, rng), **primary,
                     "Weight": weight, "Label": labels, "KaggleSet": sets, "KaggleWeight": kaggle_weight})


def write_simulation(out: Path, events: int = FULL_FILE_ROWS, seed: int = DEFAULT_SEED,
                     progress: bool = False) -> Path:
    """Generate and write a simulated file and its sidecar; both appear only once completely written."""
    out = Path(out)
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist")
    frame = simulate(events, seed, progress)
    sidecar = sidecar_path(out)
    with atomic_target(out) as temporary_csv, atomic_target(sidecar) as temporary_meta:
        write_csv(temporary_csv, frame, DECIMALS, compressed=out.name.endswith(".gz"), progress=progress,
                  workers=_workers(events))
        temporary_meta.write_text(json.dumps(metadata(events, seed), indent=2) + "\n")
    return out
