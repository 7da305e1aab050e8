"""Fast, byte-reproducible CSV writing in the real file's number format, with atomic replacement of the target.

pandas formats every value through Python and takes minutes for the full-size file on a small machine; here each
column becomes a matrix of ASCII digits built with integer arithmetic in numpy (unused cells hold NUL bytes, dropped
at the end), which is two orders of magnitude faster. Numbers look like the real file's: fixed decimals with
trailing zeros removed but one kept ("138.47", "-999.0", "0.2"), integers plain. Gzip output has no file name and
a zero time stamp in its header, so the same table always gives the same bytes.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

MAX_DIGITS = 17
"""Digits that int64 holds exactly: decimals are reduced for columns whose values would overflow."""
GZIP_LEVEL = 6
CHUNK_ROWS = 65_536
ZERO, MINUS, DOT, COMMA, NEWLINE = (ord(c) for c in "0-.,\n")


def _digit_count(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers (1 for zero)."""
    count = np.ones(values.shape, np.int64)
    for power in range(1, MAX_DIGITS + 2):
        count += values >= 10**power
    return count


def _digits(values: np.ndarray, width: int, keep: np.ndarray, right_aligned: bool) -> np.ndarray:
    """(n, width) ASCII digits of `values` padded to `width`; cells outside the `keep` leading/trailing digits NUL."""
    out = np.zeros((len(values), width), np.uint8)
    for position in range(width):
        digit = (values // 10 ** (width - 1 - position)) % 10
        shown = position >= width - keep if right_aligned else position < keep
        out[:, position] = np.where(shown, ZERO + digit, 0)
    return out


def number_block(values: np.ndarray, decimals: int | None) -> np.ndarray:
    """ASCII cells of one numeric column: integers when `decimals` is None, else rounded to `decimals` places."""
    values = np.asarray(values, float if decimals is not None else np.int64)
    scale = 10 ** (decimals or 0)
    if decimals is not None:
        largest = int(np.ceil(np.max(np.abs(values), initial=0.0)))
        decimals = max(1, min(decimals, MAX_DIGITS - len(str(largest))))
        scale = 10**decimals
    magnitude = np.rint(np.abs(values) * scale).astype(np.int64)
    negative = (np.asarray(values) < 0) & (magnitude > 0)
    whole, fraction = magnitude // scale, magnitude % scale
    whole_width = int(_digit_count(np.array([whole.max(initial=0)]))[0])
    blocks = [np.where(negative, MINUS, 0).astype(np.uint8)[:, None],
              _digits(whole, whole_width, _digit_count(whole), right_aligned=True)]
    if decimals is not None:
        trailing = np.zeros(len(values), np.int64)
        for zeros in range(1, decimals):
            trailing += fraction % 10**zeros == 0
        blocks += [np.full((len(values), 1), DOT, np.uint8),
                   _digits(fraction, decimals, decimals - trailing, right_aligned=False)]
    return np.concatenate(blocks, axis=1)


def text_block(values: np.ndarray) -> np.ndarray:
    """ASCII cells of a column of short strings."""
    encoded = np.asarray(values).astype("S")
    return encoded.view(np.uint8).reshape(len(encoded), encoded.dtype.itemsize)


def csv_chunk(frame: pd.DataFrame, decimals: dict[str, int | None]) -> bytes:
    """The CSV lines (no header) of `frame`; columns not in `decimals` are written as text."""
    blocks = []
    for i, name in enumerate(frame.columns):
        values = frame[name].to_numpy()
        block = number_block(values, decimals[name]) if name in decimals else text_block(values)
        separator = NEWLINE if i == len(frame.columns) - 1 else COMMA
        blocks += [block, np.full((len(frame), 1), separator, np.uint8)]
    cells = np.concatenate(blocks, axis=1).ravel()
    return cells[cells != 0].tobytes()


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only when the block succeeds (and is removed otherwise)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _opened(path: Path, compressed: bool) -> tuple[IO[bytes], IO[bytes]]:
    raw = open(path, "wb")
    if not compressed:
        return raw, raw
    return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0), raw


def write_csv(path: Path, frame: pd.DataFrame, decimals: dict[str, int | None], compressed: bool,
              progress: bool = False) -> None:
    """Write `frame` with its header to `path` (gzip when `compressed`), formatting and compressing in parallel."""
    stream, raw = _opened(path, compressed)
    starts: Sequence[int] = range(0, len(frame), CHUNK_ROWS)
    try:
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = writer.submit(stream.write, (",".join(frame.columns) + "\n").encode())
            for start in tqdm(starts, desc="writing", unit="chunk", disable=not progress):
                chunk = csv_chunk(frame.iloc[start:start + CHUNK_ROWS], decimals)
                pending.result()
                pending = writer.submit(stream.write, chunk)
            pending.result()
    finally:
        stream.close()
        raw.close()
