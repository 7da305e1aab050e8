"""What a user sees while `higgsml run` works: a live progress line in a terminal (member, epoch, loss, time left),
one line per stage in a log, and none of the libraries' warnings nobody here can act on."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modules import progress

WARNINGS = ("running over TCP without encryption", "distplot", "pkg_resources", "Traceback")


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 900) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its stdout and stderr; return its exit status and all it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.notebook
def test_a_terminal_shows_live_progress_for_members_and_epochs_and_no_noise(tmp_path: Path) -> None:
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "r"),
           "MPLBACKEND": "Agg"}
    status, screen = run_in_terminal([sys.executable, "-m", "modules.cli", "run", "13", "--quick", "--engine", "lumin"],
                                     env)
    assert status == 0, screen[-3000:]
    assert "\r" in screen  # one line rewritten in place
    assert "member 1/2, epoch" in screen and "member 2/2, epoch" in screen
    assert "validation loss" in screen and "left" in screen
    assert "test_private_ams" in screen and "finished in" in screen
    for noise in WARNINGS:
        assert noise not in screen, noise


@pytest.mark.slow
@pytest.mark.notebook
def test_a_log_gets_one_line_per_stage_and_no_carriage_returns(tmp_path: Path) -> None:
    env = {**os.environ, "HIGGSML_DATA_DIR": str(tmp_path / "data"), "HIGGSML_RESULTS_DIR": str(tmp_path / "r"),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "modules.cli", "run", "12", "--quick"], capture_output=True,
                          text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "\r" not in log and "saving the results" in log
    assert sum(line.startswith("member ") for line in log.splitlines()) <= 2  # no line per epoch
    for noise in WARNINGS:
        assert noise not in log, noise


def test_progress_reports_time_left_from_the_pace_so_far(tmp_path: Path) -> None:
    report = progress.Progress(tmp_path / "p.json")
    report.member_begins(0, 3, 4)
    report.epoch_times, report.member_times = [2.0, 2.0], []
    assert report._time_left(0, 3, 2, 4) == pytest.approx(2 * 2.0 + 2 * 4 * 2.0)  # 2 epochs, then 2 members of 4
    report.member_times = [10.0]
    assert report._time_left(1, 3, 2, 4) == pytest.approx(2 * 2.0 + 1 * 10.0)
    report.epoch_done(1, 3, 3, 4, 2.5e-4)
    status = json.loads((tmp_path / "p.json").read_text())
    assert progress.describe(status).startswith("member 2/3, epoch 3/4, validation loss 2.500e-04, about ")
    report.stage("test with test-time augmentation")
    assert progress.describe(json.loads((tmp_path / "p.json").read_text())) == "test with test-time augmentation"
