"""Resolving `--dataset`: real files when present, the simulated stand-in (cached) otherwise, clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from modules.commands.options import add_dataset_argument
from modules.data.identity import sidecar_path
from modules.data.simulation.config import VERSION
from modules.data.sources import DataSource, resolve
from modules.errors import UserError
from modules.schema import OPENDATA_FILENAME


def test_auto_simulates_once_and_caches_under_a_name_with_version_seed_and_size(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = resolve("auto", data_dir=tmp_path, events=500, seed=11)
    assert source.kind == "simulated"
    (path,) = source.paths
    assert path.parent == tmp_path and path.name == f"simulated-v{VERSION}-seed11-500.csv"
    assert json.loads(sidecar_path(path).read_text())["kind"] == "simulated"
    assert "SIMULATED" in source.description and "not the real ATLAS data" in source.description
    assert capsys.readouterr().out == ""
    stamp = path.stat().st_mtime_ns
    assert resolve("simulated", data_dir=tmp_path, events=500, seed=11) == source
    assert path.stat().st_mtime_ns == stamp


def test_simulated_file_without_sidecar_is_regenerated(tmp_path: Path) -> None:
    (path,) = resolve("simulated", data_dir=tmp_path, events=200, seed=1).paths
    sidecar_path(path).unlink()
    path.write_text("truncated")
    assert resolve("simulated", data_dir=tmp_path, events=200, seed=1).paths == (path,)
    assert path.read_bytes()[:8] == b"EventId," and sidecar_path(path).exists()


def test_auto_prefers_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / OPENDATA_FILENAME
    real.write_bytes(b"")
    source = resolve("auto", data_dir=tmp_path)
    assert source == resolve("opendata", data_dir=tmp_path)
    assert source.kind == "opendata" and source.paths == (real,) and "real ATLAS data" in source.description


def test_kaggle_pair(tmp_path: Path) -> None:
    for name in ("training.csv", "test.csv"):
        (tmp_path / name).write_text("")
    assert resolve("kaggle", data_dir=tmp_path) == DataSource(
        "kaggle", (tmp_path / "training.csv", tmp_path / "test.csv"),
        f"dataset: real ATLAS data, Kaggle challenge files ({tmp_path})")


def test_a_path_names_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("")
    source = resolve(str(path), data_dir=tmp_path / "elsewhere")
    assert source.kind == "file" and source.paths == (path,)


@pytest.mark.parametrize(("spec", "message"), [
    ("opendata", "higgsml data fetch"),
    ("kaggle", "training.csv, test.csv are not in"),
    ("no/such/file.csv", "no/such/file.csv does not exist"),
])
def test_missing_data_is_a_one_line_user_error(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        resolve(spec, data_dir=tmp_path)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_every_command_declares_dataset_the_same_way() -> None:
    parser = argparse.ArgumentParser()
    add_dataset_argument(parser)
    assert parser.parse_args([]).dataset == "auto"
    assert parser.parse_args(["--dataset", "simulated"]).dataset == "simulated"


def test_a_directory_given_as_the_dataset_is_named_as_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=f"^dataset {tmp_path} is a directory; --dataset takes"):
        resolve(str(tmp_path), data_dir=tmp_path)
