"""One experiment run on one machine: its configuration, dataset identity, hardware, timings and metrics, saved as
`results/<experiment>_<machine>.json` — the study's Experiment idea, with what is needed to trust a number later."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules import atomic, hardware, info, paths, record
from modules.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

MACHINES_FILE = Path(os.environ.get("HIGGSML_MACHINES", paths.PROJECT_ROOT / "machines.toml"))


@dataclass(frozen=True)
class Machine:
    """A named machine: the seed of its train/validation split and a description of it."""

    name: str
    seed: int
    description: str
    torch_threads: int | None = None
    """CPU threads for torch on this machine; None keeps torch's default (one per core)."""


MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A machine's name becomes part of file names (records, weights, locks, executed notebooks): letters, digits, `_`,
`.` and `-`, starting with a letter or digit, at most 64 characters; no `/`, no `..`, no spaces."""
SEED_LIMIT = 2**32
"""Seeds go to NumPy's and scikit-learn's generators, which take integers 0 <= seed < 2**32."""


def _integer(value: Any) -> bool:
    """Whether a TOML value is an integer (TOML's `true` reads as a Python bool, which is not one here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_machine(path: Path, name: str, entry: Any) -> Machine:
    """One table of the machines file as a Machine, or a one-line UserError naming the file and the machine."""
    if not MACHINE_NAME.match(name):
        raise UserError(f"{path}: machine [{name!r}]: a name must be letters, digits, '_', '.' or '-' (starting "
                        f"with a letter or digit, at most 64 characters), as it becomes part of file names")
    if not isinstance(entry, dict) or not _integer(entry.get("seed")):
        raise UserError(f"{path}: machine [{name}] needs an integer `seed`")
    if not 0 <= entry["seed"] < SEED_LIMIT:
        raise UserError(f"{path}: machine [{name}] has `seed` {entry['seed']}; expected an integer from 0 to "
                        f"{SEED_LIMIT - 1} (the range NumPy and scikit-learn accept)")
    threads = entry.get("torch_threads")
    if threads is not None and not (_integer(threads) and threads > 0):
        raise UserError(f"{path}: machine [{name}] has `torch_threads` {threads!r}; expected a positive integer")
    return Machine(name, entry["seed"], str(entry.get("description", "")), threads)


def load_machines(path: Path = MACHINES_FILE) -> dict[str, Machine]:
    """Read and check the machines file (TOML: one table per machine with `seed` and `description`); a bad entry
    is one line naming the file and the machine."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: machines file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a machines file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read the machines file ({getattr(err, 'strerror', None) or err})") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}") from None
    return {name: _check_machine(path, name, entry) for name, entry in table.items()}


def lookup_machine(name: str, path: Path = MACHINES_FILE) -> Machine:
    """The named machine, or an error listing the known ones and how to add one."""
    machines = load_machines(path)
    if name not in machines:
        raise UserError(f"unknown machine {name!r}; known: {', '.join(machines)}. "
                        f"Add it to {path} as a [{name}] table with `seed` and `description`.")
    return machines[name]


def run_label(name: str, machine: str, split_of: str | None = None) -> str:
    """`<experiment>_<machine>`, or `<experiment>_<machine>_seed-<split_of>` for a run on `machine`'s hardware with
    another machine's split seed: the one place that names a run (results JSON, executed notebook, weights, plots),
    so a name never claims hardware the run did not use."""
    return f"{name}_{machine}" + (f"_seed-{split_of}" if split_of not in (None, machine) else "")


def results_dir(quick: bool) -> Path:
    """Full runs are the record in results/; quick runs go to results/quick/ so the two never mix."""
    return paths.RESULTS_DIR / "quick" if quick else paths.RESULTS_DIR


def metrics_table(results: dict[str, Any]) -> pd.DataFrame:
    """Metrics as rows `value ± error` (the error only for mean-over-folds metrics)."""
    import pandas as pd

    rows = []
    for name, value in results.items():
        if isinstance(value, (tuple, list)):
            rows.append((name, f"{value[0]:.4f} ± {value[1]:.4f}"))
        elif isinstance(value, float):
            rows.append((name, f"{value:.4f}"))
        else:
            rows.append((name, str(value)))
    return pd.DataFrame(rows, columns=["metric", "value"]).set_index("metric")


def run_title(name: str, machine: str, split_of: str | None = None) -> str:
    """How messages and locks name a run: `<experiment> on machine <machine>[ with the split of <split_of>]`."""
    split = f" with the split of {split_of}" if split_of not in (None, machine) else ""
    return f"{name} on machine {machine}{split}"


def workdir_for(name: str, machine: str, quick: bool, split_of: str | None = None) -> Path:
    """Where a run keeps its trained members and scratch files (weights/<run label>[_quick]/)."""
    return paths.WEIGHTS_DIR / (run_label(name, machine, split_of) + ("_quick" if quick else ""))


def run_lock(workdir: Path) -> Path:
    """The lock file that keeps a run (its working folder) to one process at a time: beside the folder, so that
    `--fresh` can remove the folder while the lock is held."""
    return workdir.with_name(f".{workdir.name}.lock")


def keep_in_history(record: Path, history: Path) -> Path:
    """Copy a record into `history` under a name that adds when it finished (or, unreadable, when it was copied)."""
    try:
        stamp = str(json.loads(record.read_text()).get("finished") or _now())
    except ValueError:
        stamp = _now()
    target = history / f"{record.stem}_{stamp.replace(':', '').replace('+', '_')}.json"
    history.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(record, target)
    return target


def _load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages, recorded at a run's start and end so that times measured on a
    busy machine can be told apart."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Experiment:
    """Metrics of one experiment on one machine; `exp[metric] = value` records, `save()` writes the JSON. With
    `split_of`, the run uses that machine's split seed on `machine`'s hardware (and says so in its name)."""

    def __init__(self, name: str, machine: str, results_dir: Path | None = None,
                 machines_file: Path = MACHINES_FILE, split_of: str | None = None) -> None:
        found = lookup_machine(machine, machines_file)
        if found.torch_threads is not None:
            import torch

            torch.set_num_threads(found.torch_threads)
        split_of = None if split_of == machine else split_of
        seed = found.seed if split_of is None else lookup_machine(split_of, machines_file).seed
        self.name, self.machine, self.seed, self.description = name, machine, seed, found.description
        self.split_of = split_of
        self.results_dir = Path(results_dir) if results_dir is not None else paths.RESULTS_DIR
        self.results: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.dataset: dict[str, Any] = {}
        self.hardware: dict[str, Any] = hardware.describe()
        self.versions: dict[str, str] = info.versions()
        self.started, self.finished = _now(), None
        self.load: dict[str, list[float] | None] = {"started": _load_average(), "finished": None}
        self.code = record.code_version()
        """The code this run runs (taken at its start: a commit made while it trains is not its code)."""
        self.run: record.RunSpec | None = None
        """How to repeat the run (`higgsml run --like`): set by `session.start`."""

    def __repr__(self) -> str:
        lines = [f"Experiment {self.name} on {self.machine} ({self.description}), seed {self.seed}"]
        lines += [f"  {key}: {value}" for key, value in self.results.items()]
        return "\n".join(lines)

    def __getitem__(self, metric: str) -> Any:
        return self.results[metric]

    def __setitem__(self, metric: str, value: Any) -> None:
        self.results[metric] = value

    @property
    def path(self) -> Path:
        return self.results_dir / f"{run_label(self.name, self.machine, self.split_of)}.json"

    def to_record(self) -> record.RunRecord:
        """The run as the record schema holds it."""
        return record.RunRecord(self.name, self.machine, self.results, self.seed, self.description, self.config,
                                self.dataset, self.hardware, self.versions, self.started, self.finished, self.load,
                                self.code, self.run)

    def to_dict(self) -> dict[str, Any]:
        return self.to_record().to_dict()

    def save(self, history: Path | None = None) -> Path:
        """Write the record atomically (`modules.atomic`) and return its path. With `history`, a record already at
        the path is first copied there (`<experiment>_<machine>_<its finish time>.json`), so replacing a finished run
        never loses it. A failure (read-only folder, full disk) is one UserError line and leaves any earlier record as
        it was."""
        self.finished = _now()
        self.load["finished"] = _load_average()

        def keep_earlier() -> None:
            if history is not None and self.path.exists():
                keep_in_history(self.path, history)

        try:
            atomic.write_json(self.path, self.to_dict(), indent=2, before_replace=keep_earlier)
        except OSError as err:
            raise UserError(f"{self.path}: the record could not be written ({err.strerror or err}); any earlier "
                            f"record there is unchanged") from None
        return self.path

    @classmethod
    def from_json(cls, path: Path | str) -> Experiment:
        """Rebuild an experiment from its record (also the paper's published files, which hold only the metrics),
        read and checked by `record.read`; a bad record is one UserError line naming the file."""
        path = Path(path)
        try:
            found = record.read(path)
        except record.RecordError as err:
            raise UserError(f"{path}: {err}") from None
        exp = cls.__new__(cls)
        exp.name, exp.machine, exp.seed, exp.description = found.exp_name, found.machine, found.seed, found.description
        exp.results_dir = path.parent
        exp.results, exp.config, exp.dataset = found.results, found.config, found.dataset
        exp.hardware, exp.versions = found.hardware, found.versions
        exp.started, exp.finished = found.started, found.finished
        exp.load = found.load_average or {"started": None, "finished": None}
        exp.code, exp.run = found.code, found.spec()
        exp.split_of = exp.run.split_of
        return exp
