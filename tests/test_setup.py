"""The one set-up command: it uses a Python 3.11 and, given any other Python, stops at once with one clear line
instead of downloading torch and failing in pandas's source build."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modules import paths

SETUP = paths.PROJECT_ROOT / "setup.sh"


def other_python(tmp_path: Path) -> str:
    """A real Python other than 3.11 where this machine has one (pyenv's 3.12 or 3.13), else a stand-in that answers
    like Python 3.12."""
    for pattern in ("~/.pyenv/versions/3.1[23]*/bin/python", "/usr/bin/python3.1[23]", "/usr/local/bin/python3.1[23]"):
        for found in sorted(glob.glob(os.path.expanduser(pattern))):
            return found
    fake = tmp_path / "python3.12"
    fake.write_text('#!/bin/sh\ncase "$*" in *version_info*) exit 1 ;; *) echo 3.12.1 ;; esac\n')
    fake.chmod(0o755)
    return str(fake)


def test_a_wrong_python_gets_one_clear_line_at_once(tmp_path: Path) -> None:
    python = other_python(tmp_path)
    started = time.perf_counter()
    done = subprocess.run([str(SETUP)], capture_output=True, text=True, env={**os.environ, "PYTHON": python},
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and time.perf_counter() - started < 30
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert "is Python 3.1" in done.stderr and "not 3.11" in done.stderr and "pyenv install 3.11" in done.stderr


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="runs where the tests themselves run on Python 3.11")
def test_a_python_311_is_found_and_named(tmp_path: Path) -> None:
    done = subprocess.run([str(SETUP), "--check"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("setup: using Python 3.11") and sys.executable in done.stdout
