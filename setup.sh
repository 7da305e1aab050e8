#!/usr/bin/env bash
# Set-up in one command: find a Python 3.11, make .venv with it and install requirements.txt into it.
#
# LUMIN 0.9.1, the study's library, needs numpy < 2 and pandas < 2.1, and pandas 2.0 has no wheels for Python 3.12
# or later: there pip would download torch and then fail in a source build. So this script looks for Python 3.11
# (PYTHON if set, python3.11 or python3 on PATH, pyenv's, uv's managed interpreters) and, without one, stops at
# once with a line that says how to get it.
#
#   ./setup.sh                     # or: PYTHON=/path/to/python3.11 ./setup.sh
#   ./setup.sh --check             # only say which Python would be used
set -euo pipefail
cd "$(dirname "$0")"

is_311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; }
version_of() { "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "not runnable"; }

fail() {
    echo "setup: error: $1; LUMIN 0.9.1 needs pandas < 2.1, which has no wheels past Python 3.11. Install Python 3.11" \
         "(pyenv install 3.11, uv python install 3.11, or conda env create -f environment.yml) and run" \
         "./setup.sh again, or PYTHON=/path/to/python3.11 ./setup.sh" >&2
    exit 2
}

find_python() {
    if [ -n "${PYTHON:-}" ]; then
        is_311 "$PYTHON" && { echo "$PYTHON"; return; }
        fail "PYTHON=$PYTHON is Python $(version_of "$PYTHON"), not 3.11"
    fi
    for candidate in python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && is_311 "$candidate"; then command -v "$candidate"; return; fi
    done
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11.*/bin/python; do
        if [ -x "$candidate" ] && is_311 "$candidate"; then echo "$candidate"; return; fi
    done
    if command -v uv >/dev/null 2>&1; then
        candidate=$(uv python find 3.11 2>/dev/null || true)
        if [ -n "$candidate" ] && is_311 "$candidate"; then echo "$candidate"; return; fi
    fi
    local found="none"
    command -v python3 >/dev/null 2>&1 && found="python3 is $(version_of python3)"
    fail "no Python 3.11 found ($found)"
}

PYTHON_311=$(find_python)
echo "setup: using Python $(version_of "$PYTHON_311") at $PYTHON_311"
if [ "${1:-}" = "--check" ]; then
    exit 0
fi
"$PYTHON_311" -m venv .venv
.venv/bin/python -m pip install --quiet --no-compile -r requirements.txt
.venv/bin/python -m pip check
echo "setup: done; activate with  . .venv/bin/activate"
