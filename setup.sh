#!/usr/bin/env bash
# Set-up in one command: find a Python 3.11, 3.12 or 3.13, make .venv with it and install the pinned environment.
#
# It uses PYTHON if set, else the newest supported Python it finds: python3.13, python3.12, python3.11, python3 or
# python on PATH, then pyenv's, then uv's managed interpreters. Any other Python gets one line and no download.
# requirements.txt pins every package (per Python where they must differ); lumin.txt then installs LUMIN 0.9.1 and
# this project with --no-deps, the one place where LUMIN's stale pins (numpy < 2, pandas < 2.1) are overridden, and
# `pip check` may report only those overrides (LUMIN_OVERRIDES below); anything else it reports fails the set-up.
#
#   ./setup.sh                          # or: PYTHON=/path/to/python3.12 ./setup.sh, or PYTHON=3.12 ./setup.sh
#   VENV=/tmp/env ./setup.sh            # another folder than .venv
#   ./setup.sh --check                  # only say which Python would be used
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
SUPPORTED="3.13 3.12 3.11"

minor_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
is_supported() { local v; v=$(minor_of "$1") && [[ " $SUPPORTED " == *" $v "* ]]; }
version_of() { "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "not runnable"; }

fail() {
    echo "setup: error: $1; this project runs on Python 3.11, 3.12 or 3.13 (LUMIN 0.9.1 and torch 2.13)." \
         "Install one (pyenv install 3.13, uv python install 3.13, or conda env create -f environment.yml) and run" \
         "./setup.sh again, or PYTHON=/path/to/python3.13 ./setup.sh" >&2
    exit 2
}

find_python() {
    if [[ "${PYTHON:-}" =~ ^3\.[0-9]+$ ]]; then  # a version rather than a path: find that one
        [[ " $SUPPORTED " == *" $PYTHON "* ]] || fail "PYTHON=$PYTHON is not 3.11, 3.12 or 3.13"
        SUPPORTED=$PYTHON
    elif [ -n "${PYTHON:-}" ]; then
        is_supported "$PYTHON" && { echo "$PYTHON"; return; }
        fail "PYTHON=$PYTHON is Python $(version_of "$PYTHON"), not 3.11, 3.12 or 3.13"
    fi
    local minor candidate
    for minor in $SUPPORTED; do
        for candidate in "python$minor" python3 python; do
            if command -v "$candidate" >/dev/null 2>&1 && [ "$(minor_of "$candidate")" = "$minor" ]; then
                command -v "$candidate"; return
            fi
        done
        for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$minor".*/bin/python; do
            if [ -x "$candidate" ] && [ "$(minor_of "$candidate")" = "$minor" ]; then echo "$candidate"; return; fi
        done
        if command -v uv >/dev/null 2>&1; then
            candidate=$(uv python find "$minor" 2>/dev/null || true)
            if [ -n "$candidate" ] && [ "$(minor_of "$candidate")" = "$minor" ]; then echo "$candidate"; return; fi
        fi
    done
    local found="none"
    command -v python3 >/dev/null 2>&1 && found="python3 is $(version_of python3)"
    fail "no Python ${SUPPORTED// /, } found ($found)"
}

# What `pip check` may say, and only because lumin.txt installs LUMIN 0.9.1 with --no-deps: its declared but never
# imported plotly and poetry-plugin-export, torch-geometric (imported, but modules/compat.py stands in for it), and
# its stale numpy/pandas pins on the Pythons where they cannot be met.
LUMIN_OVERRIDES='^lumin 0\.9\.1 (requires (plotly|poetry-plugin-export|torch-geometric), which is not installed|has requirement (numpy<2\.0\.0|pandas<2\.1\.0), but you have (numpy|pandas) [0-9.]+)\.$'

PYTHON_FOUND=$(find_python)
echo "setup: using Python $(version_of "$PYTHON_FOUND") at $PYTHON_FOUND"
if [ "${1:-}" = "--check" ]; then
    exit 0
fi
"$PYTHON_FOUND" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --no-compile -r requirements.txt
"$VENV/bin/python" -m pip install --quiet --no-compile --no-deps -r lumin.txt
# fastcore 1.3.5 has regular expressions that Python 3.12+ warns about (SyntaxWarning) when it compiles them: compile
# it now, silently, so that a user's first run does not show them (--no-compile above saves compiling all of torch).
"$VENV/bin/python" -W ignore::SyntaxWarning -m compileall -q \
    "$("$VENV/bin/python" -c 'import fastcore, os; print(os.path.dirname(fastcore.__file__))')" >/dev/null
report=$("$VENV/bin/python" -m pip check 2>&1 || true)
unexpected=$(grep -vE "$LUMIN_OVERRIDES" <<<"$report" | grep -v '^No broken requirements found\.$' || true)
if [ -n "$unexpected" ]; then
    echo "setup: error: pip check found broken requirements beyond LUMIN's documented overrides (lumin.txt):" >&2
    echo "$unexpected" >&2
    exit 1
fi
echo "setup: pip check reports only LUMIN's overridden pins (see lumin.txt): $(grep -cE "$LUMIN_OVERRIDES" <<<"$report" || true) lines"
echo "setup: done; activate with  . $VENV/bin/activate"
