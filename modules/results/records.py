"""Reading the results folder: every full-run record with the identity of its dataset and of its hardware, so that
results on different data are never averaged together and times only over runs on the same hardware.

Quick runs (results/quick/, or a record saying `quick`) and reduced configurations (a benchmark's override) are not
records of the study and are left out, unless quick runs are asked for (the report of a quick reproduction, which
tests the machinery); a file that cannot be read is reported by name and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules import record as run_record
from modules.data.identity import is_simulated


@dataclass(frozen=True)
class Dataset:
    """What a result was obtained on: `key` decides what may be averaged together, `label` is what people read."""

    key: str
    label: str
    simulated: bool


PAPER = Dataset("paper", "the paper (real ATLAS data, arXiv:2002.01427)", False)


def dataset_of(record: dict[str, Any]) -> Dataset:
    """The dataset identity of a record: the SHA-1s of its files (the same bytes are the same data)."""
    files = record.get("dataset", {}).get("files", [])
    if not files:
        return Dataset("unknown", "unknown dataset (the record does not say)", False)
    key = "+".join(str(f.get("sha1") or f.get("file")) for f in files)
    if any(is_simulated(f) for f in files):
        generator = files[0]["generator"]
        label = (f"SIMULATED toy simulation v{generator.get('version')}, seed {generator.get('seed')}, "
                 f"{generator.get('events', 0):,} events")
        return Dataset(key, label, True)
    return Dataset(key, "real data: " + ", ".join(str(f.get("file")) for f in files), False)


def hardware_of(record: dict[str, Any]) -> str:
    """The device the times were measured on: the GPU's name, else the CPU with its cores and torch threads; then
    how the members were trained, where not the study's way (the batched engine, or Dask workers), since those
    times are not comparable with LUMIN's sequential ones."""
    hw = record.get("hardware", {})
    training = record.get("config", {}).get("training", {})
    how = [f"{training['engine']} engine"] if training.get("engine", "lumin") != "lumin" else []
    how += [f"Dask, {training['workers']} workers"] if training.get("workers") else []
    if hw.get("gpu"):
        device = str(hw["gpu"])
    elif not hw:
        device = record.get("machine", "unknown")
    else:
        cores, threads = hw.get("cpu_cores", "?"), hw.get("torch_threads", "?")
        device = f"{hw.get('cpu', '?')} ({cores} cores, {threads} torch threads)"
    return f"{device}; {', '.join(how)}" if how else device


def run_name(machine: str, split_of: object) -> str:
    """How tables name a run: its machine, and the machine whose split seed it used where not its own (a missing
    one may reach here from a table as None or NaN)."""
    return f"{machine} (seed of {split_of})" if isinstance(split_of, str) else machine


@dataclass
class Record:
    """One experiment on one machine, as saved by `Experiment.save`."""

    path: Path
    exp_name: str
    machine: str
    dataset: Dataset
    hardware: str
    results: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    run: run_record.RunRecord | None = None
    """The whole record as the schema reads it."""

    @property
    def split_of(self) -> str | None:
        return self.run.run.split_of if self.run is not None and self.run.run is not None else None

    def value(self, metric: str) -> float | None:
        """A metric's value (the mean for mean-over-folds metrics), None where the record lacks it."""
        value = self.results.get(metric)
        if isinstance(value, (list, tuple)):
            return float(value[0])
        return None if value is None else float(value)

    def fold_error(self, metric: str) -> float | None:
        """The standard error over test folds a mean-over-folds metric carries, else None."""
        value = self.results.get(metric)
        return float(value[1]) if isinstance(value, (list, tuple)) and len(value) > 1 else None


def read_record(path: Path) -> Record:
    """One results JSON as a Record, read and checked by `record.read`; a ValueError (RecordError) says what is wrong
    with it."""
    found = run_record.read(path)
    data = found.to_dict()
    return Record(Path(path), found.exp_name, found.machine, dataset_of(data), hardware_of(data), found.results,
                  found.config, found)


def is_study_record(record: Record, quick: bool = False) -> bool:
    """False for reduced configurations, and for quick runs unless `quick` (then only quick runs count: the two are
    never compared with each other)."""
    return bool(record.config.get("quick")) == quick and "benchmark_models_override" not in record.config


def load_records(folder: Path, quick: bool = False) -> tuple[list[Record], list[str]]:
    """Every full-run record directly in `folder` (with `quick`, every quick-run record instead), and one line for
    each file that was skipped and why."""
    records, skipped = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = read_record(path)
        except ValueError as err:
            skipped.append(f"{path}: skipped, {err}")
            continue
        if is_study_record(record, quick):
            records.append(record)
        else:
            skipped.append(f"{path}: skipped, {'a full or reduced' if quick else 'a quick or reduced'} run")
    return records, skipped
