"""Experiment bookkeeping: machines file, JSON round trip, atomic save, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.errors import UserError
from modules.experiment import Experiment, load_machines, lookup_machine


def test_the_study_machines_and_their_seeds() -> None:
    machines = load_machines()
    expected = {"helios_cuda": 1111, "helios_cpu": 2222, "mbp": 3333, "daedalus": 4444, "icarus": 1337,
                "morpheus": 5555}
    assert {name: machines[name].seed for name in expected} == expected


def test_unknown_machine_lists_the_known_ones_and_how_to_add() -> None:
    with pytest.raises(UserError) as err:
        lookup_machine("my_laptop")
    message = str(err.value)
    assert "my_laptop" in message and "helios_cuda" in message and "machines.toml" in message
    assert "\n" not in message


def test_bad_machines_file(tmp_path: Path) -> None:
    bad = tmp_path / "machines.toml"
    bad.write_text("[box]\ndescription = 'no seed'\n")
    with pytest.raises(UserError, match="integer `seed`"):
        load_machines(bad)
    bad.write_text("[box\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_machines(bad)


def test_json_round_trip(tmp_path: Path) -> None:
    exp = Experiment("13_test", "mbp", results_dir=tmp_path)
    exp["train_time"] = 12.5
    exp["test_public_ams_mean"] = (3.8, 0.1)
    exp.config = {"n_models": 2}
    exp.dataset = {"kind": "simulated", "files": [{"sha1": "abc"}]}
    path = exp.save()
    assert path == tmp_path / "13_test_mbp.json"
    assert [p.name for p in tmp_path.iterdir()] == ["13_test_mbp.json"]
    back = Experiment.from_json(path)
    assert (back.name, back.machine, back.seed) == ("13_test", "mbp", 3333)
    assert back["train_time"] == 12.5
    assert back["test_public_ams_mean"] == [3.8, 0.1]
    assert back.config == {"n_models": 2} and back.dataset["kind"] == "simulated"
    assert back.hardware["cpu_cores"] >= 1 and "torch_threads" in back.hardware
    assert back.versions["lumin"] == "0.9.1"
    assert back.started <= back.finished


def test_reads_the_papers_published_files() -> None:
    published = Path(__file__).resolve().parents[2] / "shared/reference/paper_results/0_relu_baseline_mbp.json"
    if not published.exists():
        pytest.skip("paper results not available")
    exp = Experiment.from_json(published)
    assert exp.machine == "mbp" and exp["test_private_ams"] == pytest.approx(3.4029, abs=1e-4)


def test_unreadable_json_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "x_mbp.json"
    broken.write_text("{not json")
    with pytest.raises(UserError, match="x_mbp.json"):
        Experiment.from_json(broken)


def test_machine_torch_threads_are_applied_and_recorded(tmp_path: Path) -> None:
    import torch

    machines = tmp_path / "machines.toml"
    machines.write_text("[box]\nseed = 1\ndescription = 'test box'\ntorch_threads = 1\n")
    before = torch.get_num_threads()
    try:
        exp = Experiment("x", "box", results_dir=tmp_path, machines_file=machines)
        assert torch.get_num_threads() == 1 and exp.hardware["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)
    machines.write_text("[box]\nseed = 1\ntorch_threads = 0\n")
    with pytest.raises(UserError, match="torch_threads"):
        load_machines(machines)


@pytest.mark.parametrize(("entry", "expected"), [
    ('["/../../../escaped"]\nseed = 1\n', r"machine \['/\.\./\.\./\.\./escaped'\]: a name must be letters"),
    ('["two words"]\nseed = 1\n', r"machine \['two words'\]: a name must be letters"),
    ("[box]\nseed = -1\n", r"machine \[box\] has `seed` -1; expected an integer from 0 to 4294967295"),
    ("[box]\nseed = 4294967296\n", r"machine \[box\] has `seed` 4294967296; expected an integer from 0"),
    ("[box]\nseed = 18446744073709551616\n", r"machine \[box\] has `seed` 18446744073709551616"),
    ("[box]\nseed = true\n", r"machine \[box\] needs an integer `seed`"),
    ("[box]\nseed = 1\ntorch_threads = true\n", r"machine \[box\] has `torch_threads` True"),
])
def test_machines_file_entries_are_checked_on_load(tmp_path: Path, entry: str, expected: str) -> None:
    """Names that could not be part of a file name and seeds NumPy or scikit-learn would reject (or a bool taken for
    an integer) are refused when the file is read, naming the file and the machine."""
    machines = tmp_path / "machines.toml"
    machines.write_text("[fine]\nseed = 4294967295\n" + entry)
    with pytest.raises(UserError, match=expected) as err:
        load_machines(machines)
    assert str(err.value).startswith(f"{machines}: ") and "\n" not in str(err.value)
    machines.write_text("[fine]\nseed = 4294967295\n[zero]\nseed = 0\n")
    assert {name: m.seed for name, m in load_machines(machines).items()} == {"fine": 4294967295, "zero": 0}


def test_a_bad_machines_file_stops_higgsml_run_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    machines = tmp_path / "machines.toml"
    machines.write_text('["/../../../escaped"]\nseed = 1\n')
    env = {**os.environ, "HIGGSML_MACHINES": str(machines), "HIGGSML_RESULTS_DIR": str(tmp_path / "results"),
           "HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_WEIGHTS_DIR": str(tmp_path / "weights")}
    done = subprocess.run([sys.executable, "-m", "modules.cli", "run", "13", "--quick", "--machine",
                           "/../../../escaped"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"higgsml: error: {machines}: machine ['/../../../escaped']: a name must be")
    assert done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["machines.toml"]
