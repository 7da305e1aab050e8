"""Generate a simulated stand-in for the ATLAS Higgs ML Challenge 2014 file (`higgsml data simulate`).

The events come from a fast toy simulation of the lepton-hadron channel (H -> tau tau signal; Z -> tau tau, ttbar and
W+jets backgrounds) and are written in exactly the official 35-column format, with KaggleSet, Weight and
KaggleWeight following the real file's semantics. A sidecar `<file>.meta.json` says that the file is simulated, by
which generator version, seed and size, so that nothing computed from it can pass for a result on real data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from modules import paths
from modules.data.identity import sidecar_path
from modules.data.kinematics import derived_features
from modules.data.sim_config import (
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
from modules.data.sim_csv import atomic_target, write_csv
from modules.data.sim_detector import reconstruct
from modules.data.sim_mass import collinear_mass
from modules.data.sim_physics import TOPOLOGIES
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
DECIMALS: dict[str, int | None] = {
    "EventId": None, "PRI_jet_num": None, "Weight": WEIGHT_DECIMALS, "KaggleWeight": WEIGHT_DECIMALS,
    **{name: FEATURE_DECIMALS for name in FEATURES if name != "PRI_jet_num"},
}
"""How each numeric column is written (None: integer); Label and KaggleSet are text."""
INITIAL_EFFICIENCY = 0.2
OVERSAMPLING = 1.15


def default_filename(seed: int = DEFAULT_SEED, events: int = FULL_FILE_ROWS) -> str:
    """The cache name of a simulated file: generator version, seed and size, so a stale file is never reused."""
    return f"simulated-v{VERSION}-seed{seed}-{events}.csv.gz"


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


def generate_process(rng: np.random.Generator, process: Process, count: int) -> pd.DataFrame:
    """`count` selected events of one process: PRI columns plus the relative weight of each event."""
    kept: list[pd.DataFrame] = []
    efficiency, remaining = INITIAL_EFFICIENCY, count
    while remaining > 0:
        batch = int(np.ceil(remaining / efficiency * OVERSAMPLING)) + 64
        truth = TOPOLOGIES[process.topology](rng, process, batch, GENERATION)
        columns, passed = reconstruct(rng, truth, DETECTOR, SELECTION, GENERATION)
        weight = np.asarray(process.isr_weights, float)[truth.isr_slice]
        if process.weight_spread > 0:
            weight *= np.exp(rng.normal(-process.weight_spread**2 / 2, process.weight_spread, batch))
        frame = pd.DataFrame(columns)[passed].iloc[:remaining].assign(relative_weight=weight[passed][:remaining])
        kept.append(frame)
        remaining -= len(frame)
        efficiency = max(passed.mean(), 0.01)
    return pd.concat(kept, ignore_index=True).assign(Label=process.label)


def kaggle_sets(rng: np.random.Generator, events: int) -> np.ndarray:
    """KaggleSet of each row in file order: training first, then public and private interleaved, unused last."""
    sizes = dict(zip(KAGGLE_SET_SIZES, split_counts(events, list(KAGGLE_SET_SIZES.values())), strict=True))
    test = np.repeat(np.array(["b", "v"]), [sizes["b"], sizes["v"]])
    return np.concatenate([np.full(sizes["t"], "t"), rng.permutation(test), np.full(sizes["u"], "u")])


def assign_weights(frame: pd.DataFrame, process_of_row: np.ndarray) -> pd.DataFrame:
    """Weight (each class summing to its 2012 yield over the file) and KaggleWeight (per KaggleSet and class)."""
    weight = np.zeros(len(frame))
    for process in PROCESSES:
        rows = process_of_row == process.name
        shares = sum(p.yield_share for p in PROCESSES if p.label == process.label)
        relative = frame["relative_weight"].to_numpy()[rows]
        total = KAGGLE_WEIGHT_TOTALS[process.label] * process.yield_share / shares
        weight[rows] = total * relative / relative.sum()
    frame["Weight"] = weight
    group_sum = frame.groupby(["KaggleSet", "Label"])["Weight"].transform("sum").to_numpy()
    frame["KaggleWeight"] = weight * frame["Label"].map(KAGGLE_WEIGHT_TOTALS).to_numpy() / group_sum
    return frame


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Round the PRI features as the file does, then compute every DER feature from them."""
    for name in PRI_FEATURES:
        if name != "PRI_jet_num":
            frame[name] = frame[name].round(FEATURE_DECIMALS)
    derived = derived_features(frame)
    derived["DER_mass_MMC"] = collinear_mass(frame, MASS_ESTIMATOR)
    for name in DER_FEATURES:
        frame[name] = np.where(derived[name] == MISSING, MISSING, derived[name].round(FEATURE_DECIMALS))
    return frame


def simulate(events: int = FULL_FILE_ROWS, seed: int = DEFAULT_SEED, progress: bool = False) -> pd.DataFrame:
    """A simulated data set of `events` rows in the official column order, deterministic in `seed`."""
    if events < 1:
        raise UserError(f"--events must be a positive number of events, not {events}")
    rng = np.random.default_rng(seed)
    n_signal = int(round(events * SIGNAL_FRACTION))
    frames, names = [], []
    for label, n_label in (("s", n_signal), ("b", events - n_signal)):
        processes = [p for p in PROCESSES if p.label == label]
        counts = split_counts(n_label, [p.event_share for p in processes])
        for process, count in zip(processes, counts, strict=True):
            if progress:
                tqdm.write(f"simulating {count:,} {process.name} events")
            frames.append(generate_process(rng, process, int(count)))
            names.append(np.full(int(count), process.name))
    order = rng.permutation(events)
    frame = pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)
    process_of_row = np.concatenate(names)[order]
    frame["KaggleSet"] = kaggle_sets(rng, events)
    frame = assign_weights(frame, process_of_row)
    frame["EventId"] = np.arange(FIRST_EVENT_ID, FIRST_EVENT_ID + events)
    frame = add_derived(frame)
    return frame[list(OPENDATA_COLUMNS)]


def write_simulation(out: Path, events: int = FULL_FILE_ROWS, seed: int = DEFAULT_SEED,
                     progress: bool = False) -> Path:
    """Generate and write a simulated file and its sidecar; both appear only once completely written."""
    out = Path(out)
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist")
    frame = simulate(events, seed, progress)
    sidecar = sidecar_path(out)
    with atomic_target(out) as temporary_csv, atomic_target(sidecar) as temporary_meta:
        write_csv(temporary_csv, frame, DECIMALS, compressed=out.name.endswith(".gz"), progress=progress)
        temporary_meta.write_text(json.dumps(metadata(events, seed), indent=2) + "\n")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=FULL_FILE_ROWS, help="number of events (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output CSV, gzip when it ends in .gz (default: DATA_DIR/" + default_filename() + ")")


def main(args: argparse.Namespace) -> int:
    out = args.out or paths.DATA_DIR / default_filename(args.seed, args.events)
    write_simulation(out, args.events, args.seed, progress=True)
    print(f"wrote {args.events:,} SIMULATED events (toy simulation v{VERSION}, seed {args.seed}) to {out}")
    return 0
