"""Which data file a command or notebook uses: `--dataset auto|opendata|kaggle|simulated|PATH` resolved to files.

`auto` takes the real CERN Open Data file when it is in the data folder and otherwise the simulated stand-in,
generated once and cached there under a name that records generator version, seed and size. Resolving prints
nothing: callers print `DataSource.description`, which says loudly when the data are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modules import paths
from modules.data.identity import sidecar_path
from modules.data.simulation import simulate
from modules.data.simulation.config import DEFAULT_SEED, VERSION
from modules.errors import UserError
from modules.schema import FULL_FILE_ROWS, KAGGLE_FILENAMES, OPENDATA_FILENAME, OPENDATA_URL

KINDS = ("auto", "opendata", "kaggle", "simulated")


@dataclass(frozen=True)
class DataSource:
    """A resolved data set: what kind it is, its file(s), and the line to show the user."""

    kind: str
    """"opendata" | "kaggle" | "simulated" | "file"."""
    paths: tuple[Path, ...]
    """One CSV; for kaggle (data_dir/"training.csv", data_dir/"test.csv")."""
    description: str


def _opendata(data_dir: Path, events: int | None, seed: int) -> DataSource:
    path = data_dir / OPENDATA_FILENAME
    if not path.exists():
        raise UserError(f"the CERN Open Data file is not at {path}: run `higgsml data fetch` or download "
                        f"{OPENDATA_URL} into {data_dir}")
    return DataSource("opendata", (path,), f"dataset: real ATLAS data, CERN Open Data record 328 ({path})")


def _kaggle(data_dir: Path, events: int | None, seed: int) -> DataSource:
    files = tuple(data_dir / name for name in KAGGLE_FILENAMES)
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise UserError(f"the Kaggle files {', '.join(missing)} are not in {data_dir}: put training.csv and test.csv "
                        f"from the 2014 Kaggle challenge there, or use --dataset opendata (`higgsml data fetch`)")
    return DataSource("kaggle", files, f"dataset: real ATLAS data, Kaggle challenge files ({data_dir})")


def _simulated(data_dir: Path, events: int | None, seed: int) -> DataSource:
    events = FULL_FILE_ROWS if events is None else events
    path = data_dir / simulate.default_filename(seed, events)
    if not (path.exists() and sidecar_path(path).exists()):
        data_dir.mkdir(parents=True, exist_ok=True)
        simulate.write_simulation(path, events, seed)
    return DataSource("simulated", (path,), f"dataset: SIMULATED stand-in (toy simulation v{VERSION}, seed {seed}, "
                                            f"{events:,} events, {path}) — not the real ATLAS data")


def _file(spec: str) -> DataSource:
    path = Path(spec).expanduser()
    if path.is_dir():
        raise UserError(f"dataset {spec} is a directory; --dataset takes {', '.join(KINDS)} or the path of a CSV")
    if not path.is_file():
        raise UserError(f"dataset file {spec} does not exist (or is not a file); --dataset takes {', '.join(KINDS)} "
                        f"or the path of a CSV")
    return DataSource("file", (path,), f"dataset: file {path}")


RESOLVERS = {"opendata": _opendata, "kaggle": _kaggle, "simulated": _simulated}
"""How each named data set is found (or made); anything else names a file."""


def resolve(spec: str = "auto", data_dir: Path | None = None, events: int | None = None,
            seed: int = DEFAULT_SEED) -> DataSource:
    """The data set named by a `--dataset` value; simulates (once, cached in `data_dir`) when that is what it names.

    `events` and `seed` choose the simulated file (default: the real file's 818,238 events); they do not apply to
    real data.
    """
    data_dir = Path(paths.DATA_DIR if data_dir is None else data_dir)
    if spec == "auto":
        spec = "opendata" if (data_dir / OPENDATA_FILENAME).exists() else "simulated"
    if spec in RESOLVERS:
        return RESOLVERS[spec](data_dir, events, seed)
    return _file(spec)


def spec_of(source: DataSource) -> str:
    """The `--dataset` value that resolves to `source` again: its kind, or a file's absolute path (never `auto`, which
    may resolve differently elsewhere)."""
    return str(source.paths[0].resolve()) if source.kind == "file" else source.kind
