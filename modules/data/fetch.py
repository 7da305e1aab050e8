"""Download the CERN Open Data file (resuming, SHA-1 checked) or check the Kaggle pair placed by hand."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from modules.data.identity import sha1_of
from modules.data.load import FORMATS, read_challenge_csv
from modules.errors import UserError
from modules.schema import (
    KAGGLE_SET_SIZES,
    OPENDATA_FILENAME,
    OPENDATA_SHA1,
    OPENDATA_SIZE,
    OPENDATA_URL,
)


@dataclass(frozen=True)
class Remote:
    """A file to download and the checksum it must have."""

    url: str
    sha1: str
    filename: str
    size: int | None = None


OPENDATA = Remote(OPENDATA_URL, OPENDATA_SHA1, OPENDATA_FILENAME, OPENDATA_SIZE)
TIMEOUT_S = 15.0
"""Seconds to wait to connect or for the next bytes: without a network the command fails within this."""
CHUNK_BYTES = 1 << 20
PART_SUFFIX = ".part"
KAGGLE_URL = "https://www.kaggle.com/c/higgs-boson/data"
KAGGLE_FILES = {"training.csv": ("kaggle-train", KAGGLE_SET_SIZES["t"]),
                "test.csv": ("kaggle-test", KAGGLE_SET_SIZES["b"] + KAGGLE_SET_SIZES["v"])}
"""Each Kaggle file, the format its header must have and the rows of the original."""
HTTP_PARTIAL, HTTP_RANGE_NOT_SATISFIABLE = 206, 416


def _by_hand(remote: Remote, target: Path) -> str:
    return (f"to install it by hand, download {remote.url} on a machine with internet and copy it to {target} "
            f"(SHA-1 {remote.sha1})")


def _reason(err: OSError | http.client.HTTPException, timeout: float) -> str:
    """Why a download failed, in a few words (URLError wraps the socket's own error)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    cause = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(getattr(cause, "strerror", None) or cause)


def _open(remote: Remote, offset: int, timeout: float) -> tuple[BinaryIO | None, int]:
    """The response stream from byte `offset` on and the offset it really starts at; no stream if nothing is left."""
    request = urllib.request.Request(remote.url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == HTTP_RANGE_NOT_SATISFIABLE and offset:
            return None, offset
        raise
    return response, offset if response.status == HTTP_PARTIAL else 0


def _transfer(remote: Remote, part: Path, timeout: float) -> None:
    """Append the missing bytes to `part` (starting afresh when the server ignores the Range request)."""
    offset = part.stat().st_size if part.exists() else 0
    response, start = _open(remote, offset, timeout)
    if response is None:
        return
    part.parent.mkdir(parents=True, exist_ok=True)
    with response, open(part, "r+b" if part.exists() else "wb") as out:
        out.truncate(start)
        out.seek(start)
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else remote.size
        with tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=remote.filename, disable=None) as bar:
            while block := response.read(CHUNK_BYTES):
                out.write(block)
                bar.update(len(block))
        received = out.tell() - start
    if length is not None and received < int(length):
        raise ConnectionError(f"connection closed after {start + received:,} of {start + int(length):,} bytes")


def download(remote: Remote, data_dir: Path, timeout: float = TIMEOUT_S) -> Path:
    """The verified file in `data_dir`, downloading (or resuming) it first when it is not there yet."""
    target = data_dir / remote.filename
    if target.exists():
        if sha1_of(target) != remote.sha1:
            raise UserError(f"{target} exists but its SHA-1 is not the published {remote.sha1}: move it away and "
                            f"run `higgsml data fetch` again")
        print(f"{target} is already here and its SHA-1 matches: nothing to do")
        return target
    part = target.with_name(target.name + PART_SUFFIX)
    try:
        _transfer(remote, part, timeout)
    except (OSError, http.client.HTTPException) as err:
        kept = f"; the partial download {part} is kept and the next run resumes it" if part.exists() else ""
        raise UserError(f"cannot download {remote.url} ({_reason(err, timeout)}){kept}; "
                        f"{_by_hand(remote, target)}") from None
    found = sha1_of(part)
    if found != remote.sha1:
        part.unlink()
        raise UserError(f"the download of {remote.url} has SHA-1 {found}, not the published {remote.sha1}: deleted "
                        f"it; run `higgsml data fetch` again, or {_by_hand(remote, target)}")
    os.replace(part, target)
    print(f"downloaded {target} ({target.stat().st_size:,} bytes, SHA-1 verified)")
    return target


def check_kaggle(data_dir: Path) -> list[Path]:
    """The Kaggle pair in `data_dir`, each loaded and validated, or a UserError saying where to get them."""
    files = [data_dir / name for name in KAGGLE_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise UserError(f"{' and '.join(missing)} not in {data_dir}: download training.zip and test.zip from "
                        f"{KAGGLE_URL} (a Kaggle login and accepting the competition rules are needed), unzip them "
                        f"into {data_dir}, and run `higgsml data fetch --kaggle` again; or use the CERN Open Data "
                        f"file instead (`higgsml data fetch`)")
    for path in files:
        expected_format, original_rows = KAGGLE_FILES[path.name]
        df = read_challenge_csv(path)
        if tuple(df.columns) != FORMATS[expected_format]:
            raise UserError(f"{path}: has the header of another file, not the Kaggle {path.name}")
        note = "as in the original" if len(df) == original_rows else f"the original has {original_rows:,}"
        print(f"{path}: valid, {len(df):,} rows ({note})")
    return files
