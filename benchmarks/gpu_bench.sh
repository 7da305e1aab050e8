#!/usr/bin/env bash
# GPU benchmark of the final model: the batched engine's training (10 members x 15 epochs) and the vectorised
# test-time augmentation of the 550,000 test events on CUDA, with checks against the CPU and LUMIN's own training
# (see benchmarks/bench_gpu.py for the stages). One command, at most GPU_BENCH_BUDGET seconds (default 450)
# including the install, so it fits one 8-minute run on a lent GPU machine:
#
#   bash benchmarks/gpu_bench.sh            # on the GPU machine: writes gpu_bench.json and gpu_bench.log to $OUT
#   bash benchmarks/gpu_bench.sh --quick    # anywhere, on the CPU too: 20,000 events, 2 members x 2 epochs
#
# There is no registry on the GPU machine: the packages its image lacks (or has in versions LUMIN 0.9.1 cannot use)
# travel as Python 3.12 wheels in .whl/ (ignored by git; name it in the run's `carry`) and are installed with
# `pip --no-index --no-deps --target` into $SITE, put first on PYTHONPATH; the image's own torch (with CUDA) is used.
# Plan A is the carried set whole (numpy 1.26 and pandas 2.1, what LUMIN 0.9.1 declares). Plan B, where A cannot
# import the benchmark's modules or fails before training is timed: the image's own numpy and pandas with the rest
# of the carried set (with numpy 2.4 and pandas 2.3 or 3.1 the batched engine and the TTA gave the same numbers on
# the CPU; LUMIN's own training needs pandas < 3). The install happens only under Python 3.12 (the wheels') unless
# GPU_BENCH_INSTALL=0 or 1 says otherwise.
#
# Environment: OUT (default a new folder under /tmp), PYTHON (default python3), SITE (default /tmp/site),
# GPU_BENCH_BUDGET (seconds), GPU_BENCH_DEVICE (auto|cuda|cpu, default auto), GPU_BENCH_ARGS (more options for
# bench_gpu.py, e.g. "--tf32" or "--threads 1").
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
START=$(date +%s)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_bench.XXXXXX")}
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
BUDGET=${GPU_BENCH_BUDGET:-450}
DEVICE=${GPU_BENCH_DEVICE:-auto}
MODE=()
for arg in "$@"; do
    case $arg in
        --quick) MODE=(--quick) ;;
        *) echo "unknown option $arg (only --quick)"; exit 2 ;;
    esac
done
mkdir -p "$OUT"
# What the benchmark imports, and torch's use of numpy (fails where torch and numpy disagree on numpy's C API).
PROBE='
import numpy, pandas, scipy.sparse, sklearn, h5py, matplotlib.pyplot, seaborn, statsmodels.api, torch
assert torch.from_numpy(numpy.arange(3.0)).numpy().sum() == 3.0
import modules, lumin.nn.models.model, lumin.nn.data.fold_yielder
import modules.batched.engine, modules.tta, modules.data.prepare, modules.training
print(f"   imports: numpy {numpy.__version__}, pandas {pandas.__version__}, torch {torch.__version__}")
'
VERSIONS='
import importlib
for name in ("torch", "numpy", "pandas", "sklearn", "scipy", "h5py", "matplotlib", "lumin", "fastcore", "setuptools"):
    try:
        module = importlib.import_module(name)
        version = getattr(module, "__version__", "?")
        print(f"   {name:11} {version:14} {module.__file__}")
    except Exception as error:
        print(f"   {name:11} NOT IMPORTABLE: {type(error).__name__}: {error}")
import torch
print(f"   torch sees CUDA: {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})" if torch.cuda.is_available() else ""))
'

install() {  # install() SITE WHEEL...: the wheels into SITE, quietly, without an index or their dependencies
    local site=$1 t0
    shift
    t0=$(date +%s)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$@" \
        || echo "   WHEEL INSTALL FAILED"
    echo "   installed $# wheels into $site in $(( $(date +%s) - t0 )) s"
}

plan_b() {  # the carried wheels but numpy, pandas and pandas' own needs, over the image's packages
    local wheels=() wheel
    for wheel in .whl/*.whl; do
        case ${wheel##*/} in numpy-*|pandas-*|pytz-*|tzdata-*) ;; *) wheels+=("$wheel") ;; esac
    done
    [[ -d "$SITE-b" ]] || install "$SITE-b" "${wheels[@]}"
    export PYTHONPATH="$SITE-b:$PWD"
    PLAN=B
}

bench() {  # bench() JSON: the benchmark within what is left of the budget; its exit status
    local left=$(( START + BUDGET - $(date +%s) ))
    echo "== benchmark (plan $PLAN): ${left} s left"
    "$PYTHON" -c "$VERSIONS" || echo "version check failed"
    # The Python side skips optional stages near its deadline; timeout is the backstop (the JSON keeps what was
    # done: it is rewritten after every stage).
    # shellcheck disable=SC2086
    timeout --kill-after=10 $(( left > 20 ? left - 5 : 15 )) "$PYTHON" benchmarks/bench_gpu.py \
        --out "$OUT/$1" --device "$DEVICE" --deadline $(( START + BUDGET - 10 )) "${MODE[@]}" ${GPU_BENCH_ARGS:-}
}

main() {
    echo "== gpu_bench.sh ${MODE[*]:-full}: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), budget ${BUDGET} s, OUT=$OUT"
    echo "== machine: $(uname -srm); $(nproc) cores; $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB memory"}')"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
            || echo "nvidia-smi failed"
    else
        echo "no nvidia-smi: no NVIDIA GPU here"
    fi
    "$PYTHON" --version
    export PYTHONUNBUFFERED=1
    export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::DeprecationWarning,ignore:pkg_resources is deprecated:UserWarning}
    local wanted=${GPU_BENCH_INSTALL:-auto} status
    if [[ $wanted == auto ]]; then
        wanted=0
        if compgen -G ".whl/*.whl" >/dev/null \
            && "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
            wanted=1
        fi
    fi
    if [[ $wanted != 1 ]]; then
        echo "== no wheels installed (GPU_BENCH_INSTALL=$wanted): this Python's own packages"
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
        PLAN=own
        "$PYTHON" -c "$PROBE" || echo "== the benchmark's imports FAIL here"
        bench gpu_bench.json
        status=$?
    else
        echo "== installing $(ls .whl/*.whl | wc -l) wheels ($(du -ch .whl/*.whl | tail -1 | cut -f1))"
        install "$SITE" .whl/*.whl
        export PYTHONPATH="$SITE:$PWD"
        PLAN=A
        if "$PYTHON" -c "$PROBE"; then
            bench gpu_bench.json
            status=$?
            # 1: the data or the device training failed, before anything was timed: plan B, if time is left
            if [[ $status == 1 ]] && (( START + BUDGET - $(date +%s) > 180 )); then
                echo "== plan A failed before training was timed: plan B (the image's numpy and pandas)"
                plan_b
                bench gpu_bench_plan_b.json
                status=$?
            fi
        else
            echo "== plan A cannot import the benchmark's modules (above): plan B (the image's numpy and pandas)"
            plan_b
            "$PYTHON" -c "$PROBE" || echo "== plan B cannot import them either"
            bench gpu_bench.json
            status=$?
        fi
    fi
    echo "== bench_gpu.py exit status $status (plan $PLAN) after $(( $(date +%s) - START )) s in all"
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.used,clocks.sm --format=csv
    return "$status"
}

main 2>&1 | tee "$OUT/gpu_bench.log"
