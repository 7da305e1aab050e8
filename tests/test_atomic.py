"""Every file the package writes goes through `modules.atomic`: records, schedules and plots appear whole or not at
all, a failure leaves the earlier file and no temporary one, and new files get the mode the user's umask gives; and
every seed comes from one derivation (`modules.seeds`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modules import atomic, plots
from modules.training.member import Schedule


@pytest.fixture
def umask_022() -> None:
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_records_schedules_and_plots_are_written_whole_with_the_umasks_mode(tmp_path: Path, umask_022: None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = atomic.write_text(tmp_path / "a.json", "{}\n")
    schedule = Schedule([0.1, 0.2], [0.9, 0.85], [3])
    schedule.save(tmp_path / "member_0_schedule.npz")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    figures = plots.save_figure(fig, tmp_path / "plot")
    plt.close(fig)
    assert [p.name for p in figures] == ["plot.png", "plot.pdf"]
    assert figures[0].read_bytes()[:4] == b"\x89PNG" and figures[1].read_bytes()[:4] == b"%PDF"
    assert Schedule.load(tmp_path / "member_0_schedule.npz") == schedule
    for path in (text, tmp_path / "member_0_schedule.npz", *figures):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "member_0_schedule.npz", "plot.pdf", "plot.png"]


def test_a_failed_write_keeps_the_earlier_file_and_leaves_no_temporary_one(tmp_path: Path) -> None:
    earlier = atomic.write_text(tmp_path / "a.json", "old\n")

    def half(tmp: Path) -> None:
        tmp.write_text("ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_with(earlier, half)
    assert earlier.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_every_seed_of_a_run_comes_from_one_derivation_with_unchanged_values() -> None:
    from modules import seeds
    from modules.training import member_seed

    # the numbers every earlier record was trained with: member 0 of epyc2 (7777), member 9 of mbp (3333), and
    # trial 2 of mbp's search (its training, then its Gaussian-process proposal)
    assert (member_seed(7777, 0), member_seed(3333, 9)) == (723518145, 1502773935)
    assert (seeds.derive(3333, seeds.TRIAL_OFFSET + 2), seeds.derive(3333, 2)) == (1393991001, 762198708)
