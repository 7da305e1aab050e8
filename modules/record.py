"""The record of one run (`results/<experiment>_<machine>.json`) as one schema: `Experiment.save` writes a RunRecord and
everything that reads records reads them through `read`, which checks types, required keys and the schema version and
converts older versions, so a damaged record is named with what is wrong instead of breaking whoever reads it.

Versions: 1, records written before the schema existed (no `schema_version`, no `code`, no `run`; also the paper's
published files, which hold only the metrics); 2 adds `schema_version`, the code's git commit and whether its tree was
dirty (`code`), and how to repeat the run (`run`: what `higgsml run --like` needs); 3 adds `run.split_of`, the machine
whose split seed a run used on another machine's hardware (`higgsml run --split-of`, `higgsml reproduce`), null for a
machine's own seed.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules import paths

SCHEMA_VERSION = 3
KNOWN_VERSIONS = (1, 2, 3)
CODE_PATHS = ("modules", "notebooks", "machines.toml", "requirements.txt", "pyproject.toml")
"""What decides what a run computes: a change to a tracked file here makes the tree dirty (new records in results/
do not)."""


class RecordError(ValueError):
    """What is wrong with a record, worded to follow its path (`<path>: <what is wrong>`)."""


@dataclass(frozen=True)
class RunSpec:
    """What repeats a run exactly: the experiment's notebook with these parameters (MACHINE, QUICK, DATASET, ENGINE,
    SCHEDULER, DEVICE, SPLIT_OF) on the code of the record's commit."""

    experiment: str
    machine: str
    quick: bool = False
    dataset: str = "auto"
    """A `--dataset` value naming the data the run resolved to: opendata, kaggle, simulated or a file's path."""
    engine: str = "lumin"
    scheduler: str | None = None
    device: str = "cpu"
    split_of: str | None = None
    """The machine whose split seed the run used instead of `machine`'s own (None: its own)."""


@dataclass(frozen=True)
class Code:
    """The code a run ran: its git commit and whether tracked files under CODE_PATHS differed from it (None for
    both outside a git checkout)."""

    commit: str | None = None
    dirty: bool | None = None


@dataclass
class RunRecord:
    """One experiment on one machine: metrics (`results`, each a number or [mean, standard error over test folds]),
    configuration, dataset identity, hardware, versions, times, code and how to repeat it."""

    exp_name: str
    machine: str
    results: dict[str, Any]
    seed: int | None = None
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    load_average: dict[str, Any] | None = None
    code: Code = field(default_factory=Code)
    run: RunSpec | None = None
    written_as: int = SCHEMA_VERSION
    """The schema version of the file it was read from (not written: a record is always written in the current one)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as the current schema writes it."""
        data = {"schema_version": SCHEMA_VERSION,
                **{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "written_as"}}
        data["code"] = dataclasses.asdict(self.code)
        data["run"] = dataclasses.asdict(self.run) if self.run is not None else None
        return data

    def spec(self) -> RunSpec:
        """How to repeat this run: as recorded, or for a version-1 record as its configuration implies."""
        return self.run if self.run is not None else spec_of_version_1(self)


def code_version(root: Path = paths.PROJECT_ROOT) -> Code:
    """The commit checked out at `root` and whether the code there differs from it; both None where `root` is not a
    git checkout or git is missing."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return Code()
    status = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return Code(commit.strip(), None if status is None else bool(status.strip()))


def _kind(value: Any) -> str:
    """How a message names a JSON value's type."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_metric(name: str, value: Any) -> None:
    """A metric is a number (NaN allowed), null (not measured) or [mean, standard error], both numbers."""
    if value is None or _number(value):
        return
    if isinstance(value, list) and len(value) == 2 and all(_number(v) or v is None for v in value):
        return
    raise RecordError(f"{name} is {_shown(value)} ({_kind(value)}), not a number or [mean, error]")


def _check(data: dict[str, Any], key: str, types: tuple[type, ...], where: str, required: bool = False) -> None:
    """`data[key]` has one of `types` (None allowed when NoneType is among them); missing only when not `required`."""
    if key not in data:
        if required:
            raise RecordError(f"lacks {where}{key}")
        return
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        expected = " or ".join(_TYPE_NAMES[t] for t in types)
        raise RecordError(f"{where}{key} is {_shown(value)} ({_kind(value)}), not {expected}")


_TYPE_NAMES = {str: "text", dict: "an object", list: "a list", int: "an integer", float: "a number", bool: "true/false",
               type(None): "null"}
_TOP = {"exp_name": (str,), "machine": (str,), "results": (dict,), "seed": (int, type(None)), "description": (str,),
        "config": (dict,), "dataset": (dict,), "hardware": (dict,), "versions": (dict,),
        "started": (str, type(None)), "finished": (str, type(None)), "load_average": (dict, type(None)),
        "code": (dict,), "run": (dict, type(None))}
REQUIRED = {1: ("exp_name", "machine", "results"),
            2: ("exp_name", "machine", "results", "config", "dataset", "hardware", "versions", "code", "run")}
REQUIRED[3] = REQUIRED[2]


def validate(data: Any) -> int:
    """Check a record's layout (the parts the results code relies on); return its schema version or raise a
    RecordError saying what is wrong."""
    if not isinstance(data, dict):
        raise RecordError(f"is {_kind(data)}, not a results record (an object with exp_name, machine and results)")
    version = data.get("schema_version", 1)
    if not (isinstance(version, int) and not isinstance(version, bool)) or version not in KNOWN_VERSIONS:
        raise RecordError(f"has schema_version {_shown(version)}, which this code does not know (known: "
                          f"{', '.join(map(str, KNOWN_VERSIONS))}; written by a newer higgsml?)")
    for key in REQUIRED[version]:
        if key not in data:
            raise RecordError(f"lacks {key} (required in a version-{version} record)")
    for key, types in _TOP.items():
        _check(data, key, types, "")
    for name, value in data["results"].items():
        check_metric(f"results.{name}", value)
    config = data.get("config", {})
    _check(config, "quick", (bool,), "config.")
    _check(config, "training", (dict,), "config.")
    training = config.get("training", {})
    _check(training, "engine", (str,), "config.training.")
    _check(training, "workers", (int, type(None)), "config.training.")
    _check(data.get("dataset", {}), "files", (list,), "dataset.")
    for i, identity in enumerate(data.get("dataset", {}).get("files", [])):
        if not isinstance(identity, dict):
            raise RecordError(f"dataset.files[{i}] is {_shown(identity)} ({_kind(identity)}), not an object")
        _check(identity, "generator", (dict,), f"dataset.files[{i}].")
        _check(identity.get("generator", {}), "events", (int,), f"dataset.files[{i}].generator.")
    if version >= 2:
        _check(data["code"], "commit", (str, type(None)), "code.")
        _check(data["code"], "dirty", (bool, type(None)), "code.")
        if data["run"] is not None:
            _check_spec(data["run"])
    return version


def _check_spec(run: dict[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = sorted(set(run) - names)
    if unknown:
        raise RecordError(f"run has unknown keys {', '.join(unknown)}")
    for key, types, required in (("experiment", (str,), True), ("machine", (str,), True), ("quick", (bool,), False),
                                 ("dataset", (str,), False), ("engine", (str,), False),
                                 ("scheduler", (str, type(None)), False), ("device", (str,), False),
                                 ("split_of", (str, type(None)), False)):
        _check(run, key, types, "run.", required)


def from_dict(data: Any) -> RunRecord:
    """A RunRecord from a record's JSON data, validated, an older version converted; a RecordError says what is
    wrong."""
    version = validate(data)
    fields = {f.name for f in dataclasses.fields(RunRecord)} - {"code", "run", "written_as"}
    record = RunRecord(**{k: v for k, v in data.items() if k in fields}, written_as=version)
    if version >= 2:
        record.code = Code(**data["code"])
        record.run = RunSpec(**data["run"]) if data["run"] is not None else None
    return record


def read(path: Path | str) -> RunRecord:
    """The record at `path`, validated; a RecordError says what is wrong (without the path, which callers add)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(f"cannot be read ({err})") from None
    except json.JSONDecodeError as err:
        raise RecordError(f"is not valid JSON (truncated or half-written?): {err}") from None
    return from_dict(data)


def dataset_spec(dataset: dict[str, Any]) -> str:
    """The `--dataset` value that resolves to the data a record names: its kind, or for a file its path (from the
    description a version-1 record carries, else the file's name)."""
    kind = dataset.get("kind", "auto")
    if kind != "file":
        return str(kind) if kind in ("opendata", "kaggle", "simulated") else "auto"
    description = str(dataset.get("description", ""))
    prefix = "dataset: file "
    if description.startswith(prefix):
        return description[len(prefix):]
    files = dataset.get("files") or [{}]
    return str(files[0].get("file", "auto"))


def spec_of_version_1(record: RunRecord) -> RunSpec:
    """How a version-1 record's run is repeated, from what it recorded: quick mode, the data's kind, the engine; it
    did not record a Dask scheduler or a device, and neither changes the metrics on the CPU (LUMIN's members are the
    same on Dask to 1e-6), so none and the CPU."""
    training = record.config.get("training", {})
    return RunSpec(record.exp_name, record.machine, bool(record.config.get("quick", False)),
                   dataset_spec(record.dataset), str(training.get("engine", "lumin")), None, "cpu")


def is_time(metric: str) -> bool:
    """Times (`train_time`, `test_time_no_tta`, ...) differ from run to run; everything else is promised identical."""
    return metric.endswith("_time") or metric.endswith("_time_no_tta")


def compare(earlier: RunRecord, now: RunRecord, name: str = "the record") -> str:
    """One line: whether `now` was obtained on the same data as `earlier`, and whether its metrics (times aside) are
    identical, else which differ."""
    def files(r: RunRecord) -> list[Any]:
        return [f.get("sha1") for f in r.dataset.get("files", [])]

    if files(earlier) != files(now):
        return f"not comparable with {name}: the data differ (SHA-1 {files(earlier)} there, {files(now)} here)"
    metrics = sorted(m for m in set(earlier.results) | set(now.results) if not is_time(m))
    differ = [m for m in metrics if earlier.results.get(m) != now.results.get(m)]
    if not differ:
        return f"same data as {name}; all {len(metrics)} metrics identical (times aside)"
    return (f"same data as {name}; {len(differ)} of {len(metrics)} metrics differ: "
            + ", ".join(f"{m} {earlier.results.get(m)} there, {now.results.get(m)} here" for m in differ))

