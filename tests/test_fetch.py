"""`higgsml data fetch` against a local HTTP server: download, resume, checksum mismatch, no network, Kaggle files."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from challenge_rows import synthetic_rows, write

from modules import cli
from modules.data import fetch
from modules.errors import UserError
from modules.schema import KAGGLE_TEST_COLUMNS, KAGGLE_TRAIN_COLUMNS

PAYLOAD = bytes(range(256)) * 400 + b"end of the fake file\n"
FILENAME = "fake-challenge.csv.gz"


@dataclass
class Behaviour:
    """How the test server answers: which Range headers it saw, and its faults."""

    ranges: list[str | None] = field(default_factory=list)
    honour_range: bool = True
    stop_after: int | None = None
    """Close the connection after sending this many body bytes (an interrupted transfer)."""
    status: int | None = None
    """Answer every request with this error status instead (404, 500, ...)."""


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            header = self.headers.get("Range")
            behaviour.ranges.append(header)
            if behaviour.status is not None:
                self.send_error(behaviour.status)
                return
            start = int(header.removeprefix("bytes=").rstrip("-")) if header and behaviour.honour_range else 0
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            body = PAYLOAD[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: behaviour.stop_after])

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature http.server calls
            del format, args

    return Handler


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Behaviour]:
    """A local server of PAYLOAD that fetch.OPENDATA points at, with the payload's real SHA-1."""
    behaviour = Behaviour()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/record/328/files/{FILENAME}"
    monkeypatch.setattr(fetch, "OPENDATA", fetch.Remote(url, hashlib.sha1(PAYLOAD).hexdigest(), FILENAME,
                                                        len(PAYLOAD)))
    yield behaviour
    httpd.shutdown()
    httpd.server_close()


def test_downloads_verifies_and_renames(server: Behaviour, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "new" / "data"
    assert cli.main(["data", "fetch", "--data-dir", str(data_dir)]) == 0
    assert (data_dir / FILENAME).read_bytes() == PAYLOAD
    assert sorted(p.name for p in data_dir.iterdir()) == [FILENAME]
    assert server.ranges == [None]
    assert f"downloaded {data_dir / FILENAME} ({len(PAYLOAD):,} bytes, SHA-1 verified)" in capsys.readouterr().out


def test_resumes_a_partial_download_with_a_range_request(server: Behaviour, tmp_path: Path) -> None:
    (tmp_path / f"{FILENAME}.part").write_bytes(PAYLOAD[:40_000])
    fetch.download(fetch.OPENDATA, tmp_path)
    assert server.ranges == ["bytes=40000-"]
    assert (tmp_path / FILENAME).read_bytes() == PAYLOAD
    assert not (tmp_path / f"{FILENAME}.part").exists()


def test_starts_afresh_when_the_server_ignores_range(server: Behaviour, tmp_path: Path) -> None:
    server.honour_range = False
    (tmp_path / f"{FILENAME}.part").write_bytes(b"x" * 500)
    fetch.download(fetch.OPENDATA, tmp_path)
    assert (tmp_path / FILENAME).read_bytes() == PAYLOAD


def test_a_complete_part_file_is_verified_without_downloading_again(server: Behaviour, tmp_path: Path) -> None:
    (tmp_path / f"{FILENAME}.part").write_bytes(PAYLOAD)
    fetch.download(fetch.OPENDATA, tmp_path)
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert (tmp_path / FILENAME).read_bytes() == PAYLOAD


def test_an_interrupted_transfer_keeps_the_part_and_the_next_run_resumes(server: Behaviour, tmp_path: Path) -> None:
    server.stop_after = 30_000
    with pytest.raises(UserError, match=r"the partial download .*\.part is kept and the next run resumes it"):
        fetch.download(fetch.OPENDATA, tmp_path)
    assert (tmp_path / f"{FILENAME}.part").read_bytes() == PAYLOAD[:30_000]
    server.stop_after = None
    fetch.download(fetch.OPENDATA, tmp_path)
    assert server.ranges == [None, "bytes=30000-"]
    assert (tmp_path / FILENAME).read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing_behind(server: Behaviour, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(fetch, "OPENDATA", fetch.Remote(fetch.OPENDATA.url, "0" * 40, FILENAME))
    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("higgsml: error: the download of") and err.count("\n") == 1
    assert f"has SHA-1 {hashlib.sha1(PAYLOAD).hexdigest()}, not the published {'0' * 40}: deleted it" in err
    assert list(tmp_path.iterdir()) == []


def test_present_verified_file_is_left_alone(server: Behaviour, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / FILENAME).write_bytes(PAYLOAD)
    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path)]) == 0
    assert server.ranges == []
    assert "is already here and its SHA-1 matches: nothing to do" in capsys.readouterr().out


def test_present_file_with_another_checksum_is_not_overwritten(server: Behaviour, tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"something else")
    with pytest.raises(UserError, match=r"exists but its SHA-1 is not the published"):
        fetch.download(fetch.OPENDATA, tmp_path)
    assert (tmp_path / FILENAME).read_bytes() == b"something else"
    assert server.ranges == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_host_fails_fast_saying_where_to_put_a_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/{FILENAME}"
    monkeypatch.setattr(fetch, "OPENDATA", fetch.Remote(url, "0" * 40, FILENAME))
    started = time.monotonic()
    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path / "data")]) == 2
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot download {url} (" in err
    assert f"copy it to {tmp_path / 'data' / FILENAME} (SHA-1 {'0' * 40})" in err
    assert list(tmp_path.iterdir()) == []


def test_silent_server_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/{FILENAME}"
        monkeypatch.setattr(fetch, "OPENDATA", fetch.Remote(url, "0" * 40, FILENAME))
        started = time.monotonic()
        with pytest.raises(UserError, match=r"\(no answer within 0\.3 s\); to install it by hand"):
            fetch.download(fetch.OPENDATA, tmp_path, timeout=0.3)
        assert time.monotonic() - started < 3


def test_kaggle_files_missing_explains_where_to_get_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(synthetic_rows()[list(KAGGLE_TRAIN_COLUMNS)], tmp_path / "training.csv")
    assert cli.main(["data", "fetch", "--kaggle", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"test.csv not in {tmp_path}: download training.zip and test.zip from {fetch.KAGGLE_URL}" in err


def test_kaggle_files_present_and_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = synthetic_rows()
    write(rows[list(KAGGLE_TRAIN_COLUMNS)], tmp_path / "training.csv")
    write(rows[list(KAGGLE_TEST_COLUMNS)], tmp_path / "test.csv")
    assert cli.main(["data", "fetch", "--kaggle", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'training.csv'}: valid, 12 rows (the original has 250,000)" in out
    assert f"{tmp_path / 'test.csv'}: valid, 12 rows (the original has 550,000)" in out


def test_kaggle_files_swapped_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = synthetic_rows()
    write(rows[list(KAGGLE_TEST_COLUMNS)], tmp_path / "training.csv")
    write(rows[list(KAGGLE_TRAIN_COLUMNS)], tmp_path / "test.csv")
    assert cli.main(["data", "fetch", "--kaggle", "--data-dir", str(tmp_path)]) == 2
    assert "training.csv: has the header of another file, not the Kaggle training.csv" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "words"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")])
def test_http_errors_are_one_clear_line_and_leave_nothing(server: Behaviour, tmp_path: Path, status: int,
                                                           words: str, capsys: pytest.CaptureFixture[str]) -> None:
    server.status = status
    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "copy it to" in err
    assert list(tmp_path.iterdir()) == []


def test_a_mirror_address_is_used_and_still_checked(server: Behaviour, tmp_path: Path) -> None:
    mirror = fetch.OPENDATA.url.replace("/record/328/files/", "/mirror/")
    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path), "--url", mirror]) == 0
    assert (tmp_path / FILENAME).read_bytes() == PAYLOAD and server.ranges == [None]


def test_the_real_download_uses_https() -> None:
    from modules.schema import OPENDATA_URL

    assert OPENDATA_URL.startswith("https://opendata.cern.ch/")
