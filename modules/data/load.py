"""Read and validate a challenge CSV (CERN Open Data format or the older Kaggle pair), failing with one clear line.

Pieces of the file are parsed with pandas' C parser on a thread pool and checked with vectorised masks; only when a
check fails is the first offending row located, so that the error can name its line (header = line 1) and column.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from modules.data.pieces import Piece, map_pieces, open_binary, small_pages, split_lines
from modules.errors import DataError
from modules.schema import (
    FEATURES,
    KAGGLE_SETS,
    KAGGLE_TEST_COLUMNS,
    KAGGLE_TRAIN_COLUMNS,
    LABELS,
    MISSING,
    OPENDATA_COLUMNS,
    UNDEFINED_WITHOUT_LEADING_JET,
    UNDEFINED_WITHOUT_TWO_JETS,
)

FORMATS: dict[str, tuple[str, ...]] = {
    "opendata": OPENDATA_COLUMNS,
    "kaggle-train": KAGGLE_TRAIN_COLUMNS,
    "kaggle-test": KAGGLE_TEST_COLUMNS,
}
"""Every header the loader accepts, by format name, in the exact column order of the published files."""

CATEGORIES: dict[str, tuple[str, ...]] = {"Label": LABELS, "KaggleSet": KAGGLE_SETS}
INTEGERS: tuple[str, ...] = ("EventId", "PRI_jet_num")
POSITIVE: tuple[str, ...] = ("Weight", "KaggleWeight")
JET_NUMS = (0, 1, 2, 3)
MAY_BE_UNDEFINED: frozenset[str] = frozenset(
    ("DER_mass_MMC", *UNDEFINED_WITHOUT_LEADING_JET, *UNDEFINED_WITHOUT_TWO_JETS)
)
ALWAYS_DEFINED: tuple[str, ...] = tuple(c for c in FEATURES if c not in MAY_BE_UNDEFINED)
ENCODING = "utf-8-sig"
FIRST_DATA_LINE = 2
"""Row 0 of the DataFrame is line 2 of the file: the header is line 1."""

Problem = tuple[np.ndarray, str, str]
"""(bad-row mask, column, what is wrong) for one vectorised check."""


def _fail(path: Path, problem: str, line: int | None = None, column: str | None = None) -> DataError:
    where = [f"line {line}"] * (line is not None) + [f"column {column}"] * (column is not None)
    return DataError(" ".join(f"{path}: {', '.join(where + [problem])}".split()))


def _header(path: Path, stream: BinaryIO) -> tuple[str, ...]:
    """The column names on line 1, checked against the accepted formats."""
    line = stream.readline()
    if not line.strip():
        raise _fail(path, "empty file: no header line")
    try:
        columns = line.decode(ENCODING).rstrip("\r\n").split(",")
    except UnicodeDecodeError as err:
        raise _fail(path, f"header is not UTF-8 text ({err.reason} at byte {err.start})", 1) from None
    file_format(path, columns)
    return tuple(columns)


def file_format(path: Path, columns: list[str]) -> str:
    """Name of the format whose header `columns` is, or a DataError saying how the header differs from the closest."""
    for name, expected in FORMATS.items():
        if tuple(columns) == expected:
            return name
    name, expected = min(FORMATS.items(), key=lambda item: len(set(item[1]) ^ set(columns)))
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if unexpected:
        raise _fail(path, f"unexpected column {unexpected[0]!r} in the header (the {name} format has "
                          f"{len(expected)} columns)", 1, str(columns.index(unexpected[0]) + 1))
    if duplicated:
        raise _fail(path, f"column {duplicated[0]!r} appears twice in the header", 1)
    if missing:
        raise _fail(path, f"header lacks column(s) {', '.join(missing)} of the {name} format", 1)
    position = next(i for i, (got, want) in enumerate(zip(columns, expected, strict=True)) if got != want)
    raise _fail(path, f"header column {position + 1} is {columns[position]!r} where the {name} format has "
                      f"{expected[position]!r} (columns reordered)", 1, str(position + 1))


def _numeric(columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in CATEGORIES]


def _read_piece(piece: Piece, columns: tuple[str, ...], dtype: str | dict[str, str]) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(piece.data), header=None, names=list(columns), index_col=False, dtype=dtype,
                       engine="c", skip_blank_lines=False)


def _first_non_numeric(path: Path, piece: Piece, columns: tuple[str, ...]) -> DataError:
    """Locate the first cell of the piece that is not a number by re-reading it as text."""
    numeric = _numeric(columns)
    raw = _read_piece(piece, columns, str)[numeric]
    bad = (raw.apply(pd.to_numeric, errors="coerce").isna() & raw.notna()).to_numpy()
    if not bad.any():
        return _fail(path, "a value could not be read as a number", piece.first_line)
    row, col = divmod(int(np.argmax(bad.ravel())), bad.shape[1])
    return _fail(path, f"{raw.iat[row, col]!r} is not a number", piece.first_line + row, numeric[col])


def _parse(path: Path, piece: Piece, columns: tuple[str, ...]) -> pd.DataFrame:
    """One piece as a frame with float64 numbers and categorical labels, or a DataError locating what went wrong."""
    dtype = {c: "category" if c in CATEGORIES else "float64" for c in columns}
    try:
        return _read_piece(piece, columns, dtype)
    except pd.errors.ParserError as err:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if not found:
            raise _fail(path, f"cannot parse as CSV ({err})", piece.first_line) from None
        expected, line, saw = (int(g) for g in found.groups())
        raise _fail(path, f"{saw} fields where the header has {expected}", piece.first_line + line - 1) from None
    except UnicodeDecodeError as err:
        line = piece.first_line + piece.data.count(b"\n", 0, err.start)
        raise _fail(path, f"not UTF-8 text ({err.reason})", line) from None
    except ValueError:
        raise _first_non_numeric(path, piece, columns) from None


def _not_finite(df: pd.DataFrame, numeric: list[str]) -> Iterator[Problem]:
    """Empty, missing (short rows) or infinite numbers: reported at the earliest row, leftmost column."""
    bad = {c: ~np.isfinite(df[c].to_numpy()) for c in numeric}
    any_bad = np.logical_or.reduce(list(bad.values()))
    if any_bad.any():
        row = int(np.argmax(any_bad))
        column = next(c for c in numeric if bad[c][row])
        yield any_bad, column, "missing or empty value" if np.isnan(df[column].iat[row]) else "{value} is not finite"


def _problems(df: pd.DataFrame) -> Iterator[Problem]:
    """Every rule a valid file obeys, as (bad-row mask, column, problem template); evaluated lazily, in order."""
    yield from _not_finite(df, _numeric(tuple(df.columns)))
    yield (df["EventId"] != np.floor(df["EventId"])).to_numpy(), "EventId", "EventId {value} is not an integer"
    yield (~df["PRI_jet_num"].isin(JET_NUMS)).to_numpy(), "PRI_jet_num", f"{{value}} is not one of {JET_NUMS}"
    for column, allowed in CATEGORIES.items():
        if column in df:
            yield (~df[column].isin(allowed)).to_numpy(), column, f"{{value!r}} is not one of {', '.join(allowed)}"
    for column in POSITIVE:
        if column in df:
            yield (df[column] <= 0).to_numpy(), column, "{value} is not positive"
    for column in ALWAYS_DEFINED:
        yield (df[column] == MISSING).to_numpy(), column, "-999 (undefined) in a column that is always defined"
    jets = df["PRI_jet_num"].to_numpy()
    for columns, min_jets in ((UNDEFINED_WITHOUT_LEADING_JET, 1), (UNDEFINED_WITHOUT_TWO_JETS, 2)):
        for column in columns:
            undefined = (df[column] == MISSING).to_numpy()
            yield undefined & (jets >= min_jets), column, "-999 (undefined) although PRI_jet_num = {jets:g}"
            yield ~undefined & (jets < min_jets), column, "{value} although PRI_jet_num = {jets:g} (expected -999)"
    yield (jets == 0) & (df["PRI_jet_all_pt"] != 0).to_numpy(), "PRI_jet_all_pt", "{value} although PRI_jet_num = 0"


def _describe(df: pd.DataFrame, row: int, column: str, template: str) -> str:
    """Fill a problem template with the offending value and the row's jet count."""
    return template.format(value=df[column].iat[row], jets=df["PRI_jet_num"].iat[row])


def validate(df: pd.DataFrame, path: Path, first_line: int = FIRST_DATA_LINE) -> None:
    """Raise a DataError naming the first row that breaks a row-wise rule; row 0 of `df` is line `first_line`."""
    for bad, column, template in _problems(df):
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(path, _describe(df, row, column, template), first_line + row, column)


def check_unique(df: pd.DataFrame, path: Path) -> None:
    """Raise a DataError at the first EventId seen before; row 0 of `df` is line 2."""
    repeated = df["EventId"].duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        event = df["EventId"].iat[row]
        first = int(np.argmax(df["EventId"].to_numpy() == event)) + FIRST_DATA_LINE
        raise _fail(path, f"duplicate EventId {event} (first on line {first})", row + FIRST_DATA_LINE, "EventId")


def check_usable(df: pd.DataFrame, path: Path) -> None:
    """Raise a DataError where a valid file still cannot be used by the study: no training rows (KaggleSet t), test
    rows of one leaderboard but none of the other (b public, v private: both are scored, or neither, as for an
    excerpt of training rows), training rows of one class only, or a class whose weights do not sum to a positive,
    finite number (the class normalisation divides by it)."""
    if "KaggleSet" in df:
        present = {kaggle_set: bool((df["KaggleSet"] == kaggle_set).any()) for kaggle_set in ("t", "b", "v")}
        if not present["t"]:
            raise _fail(path, "no rows of KaggleSet t (training set): the study needs training rows",
                        column="KaggleSet")
        for kaggle_set, role, other in (("b", "public", "v"), ("v", "private", "b")):
            if present[other] and not present[kaggle_set]:
                raise _fail(path, f"no rows of KaggleSet {kaggle_set} ({role} test set) though {other} has rows: "
                                  f"the study scores both leaderboards", column="KaggleSet")
    if "Label" not in df:
        return
    training = df[df["KaggleSet"] == "t"] if "KaggleSet" in df else df
    weight = "KaggleWeight" if "KaggleWeight" in training else "Weight"
    which = "training rows (KaggleSet t)" if "KaggleSet" in df else "rows"
    for label, name in (("s", "signal"), ("b", "background")):
        in_class = training["Label"] == label
        if not in_class.any():
            present = ", ".join(sorted(str(v) for v in training["Label"].unique()))
            raise _fail(path, f"the {which} hold no {name} (Label {label}), only Label {present}: the study "
                              f"trains signal against background", column="Label")
        total = float(training.loc[in_class, weight].sum())
        if not (np.isfinite(total) and total > 0):
            raise _fail(path, f"the {weight} of the {name} {which} sum to {total:g}, not a positive finite "
                              f"number: the class normalisation divides by it", column=weight)


def _finalise(df: pd.DataFrame) -> pd.DataFrame:
    """Give a validated frame its final dtypes: integer ids and jet counts, fixed category sets."""
    for column in INTEGERS:
        df[column] = df[column].astype("int64")
    for column, allowed in CATEGORIES.items():
        if column in df:
            df[column] = df[column].cat.set_categories(allowed)
    return df


CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Bytes no CSV of numbers and labels holds (NUL and the other control characters but tab, newline and carriage
return); pandas' parser reads past some of them, so `100005\\x00` would pass as 100005."""


def _control_byte(path: Path, piece: Piece, columns: tuple[str, ...]) -> None:
    """Raise a DataError at the first control byte in the piece, naming its line and column."""
    found = CONTROL_BYTES.search(piece.data)
    if found is None:
        return
    start = piece.data.rfind(b"\n", 0, found.start()) + 1
    line = piece.first_line + piece.data.count(b"\n", 0, found.start())
    field = piece.data.count(b",", start, found.start())
    column = columns[field] if field < len(columns) else str(field + 1)
    raise _fail(path, f"byte 0x{found.group()[0]:02x} is not part of a number or label", line, column)


def _load_piece(path: Path, columns: tuple[str, ...], piece: Piece) -> pd.DataFrame:
    _control_byte(path, piece, columns)
    df = _parse(path, piece, columns)
    validate(df, path, piece.first_line)
    return _finalise(df)


def read_challenge_csv(path: Path | str) -> pd.DataFrame:
    """Read and validate a `.csv`/`.csv.gz` in the Open Data or Kaggle format, or raise a one-line DataError."""
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a directory, not a data file")
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "is not a regular file")
    try:
        with small_pages(), open_binary(path) as stream:
            columns = _header(path, stream)
            frames = map_pieces(split_lines(stream, FIRST_DATA_LINE), partial(_load_piece, path, columns))
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise _fail(path, f"corrupt or truncated gzip file ({err})") from None
    except OSError as err:
        raise _fail(path, f"cannot read the file ({err.strerror or err})") from None
    if not frames:
        raise _fail(path, "no data rows after the header")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    check_unique(df, path)
    check_usable(df, path)
    return df
