"""Fast, byte-reproducible CSV writing in the real file's number format, with atomic replacement of the target.

pandas formats every value through Python and takes minutes for the full-size file on a small machine; here each
column becomes a matrix of ASCII digits gathered from lookup tables of digit groups (unused cells hold NUL bytes,
dropped at the end), which is two orders of magnitude faster. Numbers look like the real file's: fixed decimals with
trailing zeros removed but one kept ("138.47", "-999.0", "0.2"), integers plain. Gzip members have no file name and
a zero time stamp in their headers, so the same table always gives the same bytes.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

GROUP = 4
"""Digits converted per table lookup."""
GZIP_LEVEL = 1
"""Fast compression: at level 6 deflating the full-size file takes longer than generating it."""
CHUNK_ROWS = 16_384
MINUS, DOT, COMMA, NEWLINE = (ord(c) for c in "-.,\n")


def _digit_table(width: int) -> np.ndarray:
    """ASCII digits of 0 .. 10**width - 1, zero-padded to `width`: shape (10**width, width)."""
    values = np.arange(10**width)[:, None] // 10 ** np.arange(width - 1, -1, -1)[None, :]
    return (values % 10 + ord("0")).astype(np.uint8)


PADDED = _digit_table(GROUP)
LEADING = np.where(np.cumsum(PADDED != ord("0"), axis=1) > 0, PADDED, 0).astype(np.uint8)
"""Digit groups without their leading zeros (all NUL for 0): the first group of a number."""
LEADING_LAST = LEADING.copy()
LEADING_LAST[0, -1] = ord("0")
"""The same, but 0 written as "0": the only group of a number below 10**GROUP."""


def _fraction_table(decimals: int) -> np.ndarray:
    """"." and `decimals` digits with trailing zeros removed but one kept: shape (10**decimals, decimals + 1)."""
    digits = _digit_table(decimals)
    trailing = np.cumsum((digits != ord("0"))[:, ::-1], axis=1)[:, ::-1] == 0
    trailing[:, 0] = False
    body = np.where(trailing, 0, digits).astype(np.uint8)
    return np.concatenate([np.full((len(body), 1), DOT, np.uint8), body], axis=1)


FRACTIONS = {d: _fraction_table(d) for d in range(1, GROUP + 1)}


def _rows(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """table[index] along the first axis (np.take is an order of magnitude faster than fancy indexing here)."""
    return np.take(table, index, axis=0)


def _whole_block(whole: np.ndarray) -> np.ndarray:
    """ASCII digits of non-negative integers, NUL-padded on the left to the widest value's width."""
    groups = 1
    while whole.size and whole.max() >= 10 ** (GROUP * groups):
        groups += 1
    if groups == 1:
        return _rows(LEADING_LAST, whole)
    blocks, started = [], np.zeros(len(whole), bool)
    for g in range(groups - 1, -1, -1):
        value = (whole // 10 ** (GROUP * g)) % 10**GROUP
        first = LEADING_LAST if g == 0 else LEADING
        blocks.append(np.where(started[:, None], _rows(PADDED, value), _rows(first, value)))
        started |= value > 0
    return np.concatenate(blocks, axis=1)


def _fraction_block(fraction: np.ndarray, decimals: int) -> np.ndarray:
    """"." and the decimals: trailing zeros removed up to GROUP decimals, all digits kept beyond."""
    if decimals <= GROUP:
        return _rows(FRACTIONS[decimals], fraction)
    if decimals % GROUP:
        raise ValueError(f"decimals beyond {GROUP} must be a multiple of {GROUP}, not {decimals}")
    groups = [_rows(PADDED, (fraction // 10 ** (GROUP * g)) % 10**GROUP) for g in range(decimals // GROUP - 1, -1, -1)]
    return np.concatenate([np.full((len(fraction), 1), DOT, np.uint8), *groups], axis=1)


def number_blocks(values: np.ndarray, decimals: int | None) -> list[np.ndarray]:
    """ASCII cells of one numeric column, as sign, whole and fraction blocks: integers when `decimals` is None,
    else rounded to `decimals` places."""
    scale = 10 ** (decimals or 0)
    magnitude = np.rint(np.abs(values) * scale).astype(np.int64)
    negative = (values < 0) & (magnitude > 0)
    whole, fraction = np.divmod(magnitude, scale)
    blocks = [(negative * MINUS).astype(np.uint8)[:, None], _whole_block(whole)]
    if decimals is not None:
        blocks.append(_fraction_block(fraction, decimals))
    return blocks


def text_block(values: np.ndarray) -> np.ndarray:
    """ASCII cells of a column of short strings."""
    encoded = np.asarray(values).astype("S")
    return encoded.view(np.uint8).reshape(len(encoded), encoded.dtype.itemsize)


def csv_chunk(frame: pd.DataFrame, decimals: dict[str, int | None]) -> bytes:
    """The CSV lines (no header) of `frame`; columns not in `decimals` are written as text."""
    blocks = []
    for i, name in enumerate(frame.columns):
        values = frame[name].to_numpy()
        blocks += number_blocks(values, decimals[name]) if name in decimals else [text_block(values)]
        separator = NEWLINE if i == len(frame.columns) - 1 else COMMA
        blocks.append(np.full((len(frame), 1), separator, np.uint8))
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


_JOB: dict[str, object] = {}
"""The table being written, where forked worker processes find it without copying it through a pipe."""


def _encoded_chunk(start: int) -> bytes:
    """Rows start .. start + CHUNK_ROWS of the table being written, as CSV lines (a gzip member when compressing)."""
    frame, decimals, compressed = _JOB["frame"], _JOB["decimals"], _JOB["compressed"]
    data = csv_chunk(frame.iloc[start:start + CHUNK_ROWS], decimals)
    if start == 0:
        data = (",".join(frame.columns) + "\n").encode() + data
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0) if compressed else data


def write_csv(path: Path, frame: pd.DataFrame, decimals: dict[str, int | None], compressed: bool,
              progress: bool = False, workers: int = 1) -> None:
    """Write `frame` with its header to `path`, gzip-compressed when `compressed`.

    Chunks of CHUNK_ROWS rows are formatted (and compressed, each as one member of a multi-member gzip file, which
    every gzip reader accepts) by `workers` forked processes; the bytes do not depend on the number of workers.
    """
    starts = range(0, max(len(frame), 1), CHUNK_ROWS)
    _JOB.update(frame=frame, decimals=decimals, compressed=compressed)
    try:
        with open(path, "wb") as stream:
            if workers < 2 or len(starts) < 2:
                chunks: Iterator[bytes] = map(_encoded_chunk, starts)
                for chunk in tqdm(chunks, total=len(starts), desc="writing", unit="chunk", disable=not progress):
                    stream.write(chunk)
            else:
                with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                    chunks = pool.map(_encoded_chunk, starts)
                    for chunk in tqdm(chunks, total=len(starts), desc="writing", unit="chunk", disable=not progress):
                        stream.write(chunk)
    finally:
        _JOB.clear()
