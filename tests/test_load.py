"""Loading and validating challenge CSVs: valid files in every accepted format, and one clear error per bad input."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from challenge_rows import synthetic_rows, write

from modules import cli
from modules.data import pieces
from modules.data.load import read_challenge_csv
from modules.errors import DataError
from modules.schema import (
    KAGGLE_TEST_COLUMNS,
    KAGGLE_TRAIN_COLUMNS,
    MISSING,
    OPENDATA_COLUMNS,
)


def edit_line(path: Path, line: int, old: str, new: str) -> Path:
    """Replace the first `old` on 1-based `line` of a written file."""
    lines = path.read_text().splitlines(keepends=True)
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines))
    return path


@pytest.fixture()
def valid_csv(tmp_path: Path) -> Path:
    return write(synthetic_rows(), tmp_path / "rows.csv")


def test_reads_a_valid_opendata_file_with_explicit_dtypes(valid_csv: Path) -> None:
    df = read_challenge_csv(valid_csv)
    assert tuple(df.columns) == OPENDATA_COLUMNS and len(df) == 12
    assert df.EventId.dtype == np.int64 and df.PRI_jet_num.dtype == np.int64
    assert df.PRI_jet_num.tolist() == [0, 1, 2, 3] * 3
    assert all(df[c].dtype == np.float64 for c in OPENDATA_COLUMNS if c not in ("EventId", "PRI_jet_num", "Label",
                                                                               "KaggleSet"))
    assert list(df.Label.cat.categories) == ["s", "b"] and list(df.KaggleSet.cat.categories) == ["t", "b", "v", "u"]
    assert df.Label.value_counts().to_dict() == {"s": 4, "b": 8}
    assert (df.loc[df.PRI_jet_num == 0, "PRI_jet_leading_pt"] == MISSING).all()


def test_gzip_and_plain_give_the_same_frame(valid_csv: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "rows.csv.gz"
    zipped.write_bytes(gzip.compress(valid_csv.read_bytes()))
    pd.testing.assert_frame_equal(read_challenge_csv(zipped), read_challenge_csv(valid_csv))


def test_windows_line_endings_read_the_same(valid_csv: Path, tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(valid_csv.read_bytes().replace(b"\n", b"\r\n"))
    pd.testing.assert_frame_equal(read_challenge_csv(crlf), read_challenge_csv(valid_csv))


def test_many_pieces_concatenate_in_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = synthetic_rows(500)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 20_000)
    df = read_challenge_csv(write(rows, tmp_path / "many.csv"))
    assert df.EventId.tolist() == rows.EventId.tolist()
    assert df.index.equals(pd.RangeIndex(500))
    np.testing.assert_allclose(df.PRI_tau_pt, rows.PRI_tau_pt, atol=5e-4)


def test_line_numbers_stay_right_across_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = synthetic_rows(500)
    rows["Label"] = rows.Label.where(rows.index != 435, "q")
    path = write(rows, tmp_path / "many.csv")
    monkeypatch.setattr(pieces, "PIECE_BYTES", 20_000)
    with pytest.raises(DataError, match=r"line 437, column Label, 'q' is not one of s, b"):
        read_challenge_csv(path)


@pytest.mark.parametrize(("columns", "name"), [(KAGGLE_TRAIN_COLUMNS, "training.csv"),
                                               (KAGGLE_TEST_COLUMNS, "test.csv")])
def test_reads_the_kaggle_files(tmp_path: Path, columns: tuple[str, ...], name: str) -> None:
    rows = synthetic_rows()
    rows["Weight"] = rows.KaggleWeight
    df = read_challenge_csv(write(rows[list(columns)], tmp_path / name))
    assert tuple(df.columns) == columns and len(df) == 12


def _truncated_gzip(path: Path) -> Path:
    data = gzip.compress(write(synthetic_rows(400), path.with_suffix("")).read_bytes())
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_gzip(path: Path) -> Path:
    data = bytearray(gzip.compress(write(synthetic_rows(400), path.with_suffix("")).read_bytes()))
    data[len(data) // 2: len(data) // 2 + 16] = bytes(range(16))
    path.write_bytes(bytes(data))
    return path


def _header(old: str, new: str) -> Callable[[Path], Path]:
    return lambda path: edit_line(write(synthetic_rows(), path), 1, old, new)


def _row(line: int, old: str, new: str) -> Callable[[Path], Path]:
    return lambda path: edit_line(write(synthetic_rows(), path), line, old, new)


def _without_last_field(line: int) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        lines = write(synthetic_rows(), path).read_text().splitlines(keepends=True)
        lines[line - 1] = lines[line - 1].rsplit(",", 1)[0] + "\n"
        path.write_text("".join(lines))
        return path
    return build


def _frame(change: Callable[[pd.DataFrame], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        rows = synthetic_rows()
        change(rows)
        return write(rows, path)
    return build


def _set(row: int, column: str, value: object) -> Callable[[Path], Path]:
    def change(rows: pd.DataFrame) -> None:
        rows[column] = rows[column].astype(object)
        rows.loc[row, column] = value
    return _frame(change)


BAD_INPUTS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "truncated gzip": ("rows.csv.gz", _truncated_gzip, r"rows\.csv\.gz: corrupt or truncated gzip file"),
    "corrupt gzip": ("rows.csv.gz", _corrupt_gzip, r"rows\.csv\.gz: corrupt or truncated gzip file"),
    "not gzip at all": ("rows.csv.gz", lambda p: write(synthetic_rows(), p.with_suffix("")).rename(p),
                        r"corrupt or truncated gzip file \(Not a gzipped file"),
    "empty file": ("rows.csv", lambda p: p.write_text("") or p, r"rows\.csv: empty file: no header line"),
    "header only": ("rows.csv", _frame(lambda rows: rows.drop(index=rows.index, inplace=True)),
                    r"rows\.csv: no data rows after the header"),
    "renamed column": ("rows.csv", _header("DER_pt_h", "DER_pt_higgs"),
                       r"line 1, column 5, unexpected column 'DER_pt_higgs'"),
    "reordered header": ("rows.csv", _header("PRI_tau_eta,PRI_tau_phi", "PRI_tau_phi,PRI_tau_eta"),
                         r"line 1, column 16, header column 16 is 'PRI_tau_phi' where the opendata format has "
                         r"'PRI_tau_eta' \(columns reordered\)"),
    "missing column": ("rows.csv", _frame(lambda rows: rows.drop(columns="PRI_met_sumet", inplace=True)),
                       r"line 1, header lacks column\(s\) PRI_met_sumet of the opendata format"),
    "duplicated column": ("rows.csv", _header("PRI_met_sumet", "PRI_met"),
                          r"line 1, column 'PRI_met' appears twice in the header"),
    "extra field": ("rows.csv", _row(5, "\n", ",7\n"), r"line 5, 36 fields where the header has 35"),
    "short row": ("rows.csv", _without_last_field(7), r"line 7, column KaggleWeight, missing or empty value"),
    "empty value": ("rows.csv", _set(3, "PRI_met", ""), r"line 5, column PRI_met, missing or empty value"),
    "blank line": ("rows.csv", _row(4, "\n", "\n\n"), r"line 5, column EventId, missing or empty value"),
    "non-numeric value": ("rows.csv", _set(6, "PRI_lep_eta", "1.2.3"),
                          r"line 8, column PRI_lep_eta, '1\.2\.3' is not a number"),
    "infinite value": ("rows.csv", _set(2, "PRI_met", "inf"), r"line 4, column PRI_met, inf is not finite"),
    "fractional EventId": ("rows.csv", _set(1, "EventId", 100001.5), r"line 3, column EventId, EventId 100001\.5"),
    "Label outside s,b": ("rows.csv", _set(9, "Label", "signal"),
                          r"line 11, column Label, 'signal' is not one of s, b"),
    "KaggleSet outside t,b,v,u": ("rows.csv", _set(0, "KaggleSet", "x"),
                                  r"line 2, column KaggleSet, 'x' is not one of t, b, v, u"),
    "negative weight": ("rows.csv", _set(4, "Weight", -0.5), r"line 6, column Weight, -0.5 is not positive"),
    "duplicate EventId": ("rows.csv", _set(7, "EventId", 100_002),
                          r"line 9, column EventId, duplicate EventId 100002 \(first on line 4\)"),
    "PRI_jet_num out of range": ("rows.csv", _set(3, "PRI_jet_num", 4),
                                 r"line 5, column PRI_jet_num, 4\.0 is not one of \(0, 1, 2, 3\)"),
    "leading jet defined without jets": ("rows.csv", _set(4, "PRI_jet_leading_pt", 45.0),
                                         r"line 6, column PRI_jet_leading_pt, 45\.0 although PRI_jet_num = 0 "
                                         r"\(expected -999\)"),
    "leading jet undefined with one jet": ("rows.csv", _set(1, "PRI_jet_leading_eta", MISSING),
                                           r"line 3, column PRI_jet_leading_eta, -999 \(undefined\) although "
                                           r"PRI_jet_num = 1"),
    "di-jet feature defined with one jet": ("rows.csv", _set(5, "DER_mass_jet_jet", 88.0),
                                            r"line 7, column DER_mass_jet_jet, 88\.0 although PRI_jet_num = 1"),
    "subleading jet undefined with three jets": ("rows.csv", _set(3, "PRI_jet_subleading_phi", MISSING),
                                                 r"line 5, column PRI_jet_subleading_phi, -999 \(undefined\) "
                                                 r"although PRI_jet_num = 3"),
    "-999 in an always-defined column": ("rows.csv", _set(2, "PRI_tau_pt", MISSING),
                                         r"line 4, column PRI_tau_pt, -999 \(undefined\) in a column that is always"),
    "jet_all_pt not 0 without jets": ("rows.csv", _set(8, "PRI_jet_all_pt", 31.0),
                                      r"line 10, column PRI_jet_all_pt, 31\.0 although PRI_jet_num = 0"),
    "NUL byte inside a number": ("rows.csv", _row(7, ",", "\x00,"),
                                 r"line 7, column EventId, byte 0x00 is not part of a number or label"),
    "control byte inside a label": ("rows.csv", _row(4, ",t,", ",t\x1b,"),
                                    r"line 4, column KaggleSet, byte 0x1b is not part of a number or label"),
    "training rows of one class": ("rows.csv", _frame(lambda rows: rows.__setitem__("Label", "s")),
                                   r"rows\.csv: column Label, the training rows \(KaggleSet t\) hold no background "
                                   r"\(Label b\), only Label s: the study trains signal against background"),
    "no public test rows": ("rows.csv", _frame(lambda rows: rows.__setitem__("KaggleSet",
                                                                           rows.KaggleSet.replace("b", "u"))),
                            r"rows\.csv: column KaggleSet, no rows of KaggleSet b \(public test set\) though v has "
                            r"rows"),
    "no training rows": ("rows.csv", _frame(lambda rows: rows.__setitem__("KaggleSet",
                                                                        rows.KaggleSet.replace("t", "u"))),
                         r"rows\.csv: column KaggleSet, no rows of KaggleSet t \(training set\)"),
    "class weights summing to infinity": ("rows.csv", _frame(lambda rows: rows.__setitem__(
        "KaggleWeight", rows.KaggleWeight.where(rows.index > 2, 1.7e308))),
        r"column KaggleWeight, the KaggleWeight of the background training rows \(KaggleSet t\) sum to inf, not a "
        r"positive finite number"),
    "a directory": ("rows.csv", lambda p: p.mkdir() or p, r"rows\.csv: is a directory, not a data file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_error(tmp_path: Path, case: str) -> None:
    name, build, expected = BAD_INPUTS[case]
    path = build(tmp_path / name)
    with pytest.raises(DataError, match=expected) as raised:
        read_challenge_csv(path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(path))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_data_check_exits_2_with_the_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     case: str) -> None:
    name, build, expected = BAD_INPUTS[case]
    path = build(tmp_path / name)
    before = sorted(tmp_path.iterdir())
    assert cli.main(["data", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"higgsml: error: {path}") and err.count("\n") == 1
    assert re.search(expected, err)
    assert sorted(tmp_path.iterdir()) == before


def test_data_check_summarises_a_kaggle_test_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(synthetic_rows()[list(KAGGLE_TEST_COLUMNS)], tmp_path / "test.csv")
    assert cli.main(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: valid, kaggle-test format, 12 rows, 31 columns")
    assert "  DER_mass_jet_jet              50.00%" in out and "KaggleSet" not in out


def test_data_check_summarises_groups_and_weights(valid_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = read_challenge_csv(valid_csv)
    assert cli.main(["data", "check", str(valid_csv)]) == 0
    out = capsys.readouterr().out
    signal_t = rows[(rows.KaggleSet == "t") & (rows.Label == "s")]
    assert f"t         s         {len(signal_t)}       {signal_t.Weight.sum():.3f}" in out
    assert "  PRI_jet_leading_pt            25.00%" in out


def test_mass_mmc_may_be_undefined_on_its_own(valid_csv: Path) -> None:
    df = read_challenge_csv(valid_csv)
    assert (df.DER_mass_MMC == MISSING).sum() == 2
    assert (df.loc[df.DER_mass_MMC == MISSING, "PRI_jet_num"] > 0).any()


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing\.csv: no such file"):
        read_challenge_csv(tmp_path / "nothing.csv")
