"""The one set-up command: it uses a Python 3.11, 3.12 or 3.13 and, given any other Python, stops at once with one
clear line instead of downloading torch and failing later; a package installed with `pip install .` finds its
checkout."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from modules import paths

SETUP = paths.PROJECT_ROOT / "setup.sh"


def other_python(tmp_path: Path) -> str:
    """A real unsupported Python where this machine has one (pyenv's 3.10 or 3.14), else a stand-in that answers like
    Python 3.10."""
    for pattern in ("~/.pyenv/versions/3.1[04]*/bin/python", "/usr/bin/python3.1[04]", "/usr/local/bin/python3.1[04]"):
        for found in sorted(glob.glob(os.path.expanduser(pattern))):
            return found
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\ncase "$*" in *version_info*) echo 3.10 ;; *) echo 3.10.13 ;; esac\n')
    fake.chmod(0o755)
    return str(fake)


def test_a_wrong_python_gets_one_clear_line_at_once(tmp_path: Path) -> None:
    python = other_python(tmp_path)
    started = time.perf_counter()
    done = subprocess.run([str(SETUP)], capture_output=True, text=True, env={**os.environ, "PYTHON": python},
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and time.perf_counter() - started < 30
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert "is Python 3.1" in done.stderr and "not 3.11, 3.12 or 3.13" in done.stderr
    assert "pyenv install 3.13" in done.stderr


def test_the_python_running_the_tests_is_accepted_and_named(tmp_path: Path) -> None:
    done = subprocess.run([str(SETUP), "--check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    version = "{}.{}".format(*sys.version_info[:2])
    assert done.stdout.startswith(f"setup: using Python {version}") and sys.executable in done.stdout


def test_a_package_installed_with_pip_install_dot_finds_the_checkout_it_runs_in(tmp_path: Path) -> None:
    """`pip install .` puts modules/ in site-packages, away from the notebooks and machines.toml: the project root is
    then the checkout `higgsml` runs in, also from a notebook's own folder, where papermill starts its kernel."""
    site = tmp_path / "site-packages"
    shutil.copytree(paths.PROJECT_ROOT / "modules", site / "modules", ignore=shutil.ignore_patterns("__pycache__"))
    notebook_folder = next(paths.NOTEBOOKS_DIR.glob("13_*"))
    code = "import modules.paths as p; print(p.PROJECT_ROOT); print(p.NOTEBOOKS_DIR)"
    for cwd in (paths.PROJECT_ROOT, notebook_folder):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
                              env={**os.environ, "PYTHONPATH": str(site)})
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split("\n")[:2] == [str(paths.PROJECT_ROOT), str(paths.NOTEBOOKS_DIR)]
