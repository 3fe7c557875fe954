#!/usr/bin/env bash
# The first thing to run on a GPU box (issue 12): one command, at most 9 minutes on an H100/H200
# with CuPy, PyTorch, nvcc and compute-sanitizer installed. Everything goes under $OUT (or
# ./gpu-check/), at most 8 files:
#
#   env.txt           nvidia-smi -q, `gpuparams info` (versions, NVML), tool versions
#   pytest-gpu.log    pytest -m gpu with GPUPARAMS_REQUIRE_GPU=1 (a GPU test that cannot run fails)
#   sanitizer.log     compute-sanitizer memcheck, racecheck, synccheck over benchmarks/kernel_sweep.py
#                     (every kernel and tile, on shapes that reach every code path, results checked)
#   bench.log         bench --suite kernels and --suite train, short settings
#   <device>-<date>.json  the bench results (commit it under benchmarks/results/)
#   plan-sweep.json   benchmarks/plan_sweep.py: the planner's choice against forced plans, timed
#   summary.txt       one line per step; its last line is the script's last line
#
# Every step runs under its own timeout, cut further so the whole run ends within the total budget
# (GPU_CHECK_BUDGET_S, default 530 s): one hang cannot eat the run. Exit status 0 when every step
# passed. `--dry` runs the same steps on the emulated gpu(0) with the GPU-only parts replaced by what
# can run without one (CI exercises it: tests/test_gpu_check.py).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DRY=0
if [ "${1:-}" = "--dry" ]; then DRY=1; shift; fi
OUTDIR="${OUT:-./gpu-check}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
BUDGET="${GPU_CHECK_BUDGET_S:-530}"
START=$(date +%s)
SUMMARY="$OUTDIR/summary.txt"
: > "$SUMMARY"
PASSED=0
FAILED=()
export PYTHONUNBUFFERED=1 CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0
unset GPUPARAMS_GEMM_PLAN
if [ "$DRY" = 1 ]; then
    export GPUPARAMS_EMULATE_GPU=1
    unset GPUPARAMS_REQUIRE_GPU
else
    export GPUPARAMS_REQUIRE_GPU=1
    unset GPUPARAMS_EMULATE_GPU
fi

# step NAME SECONDS LOGFILE COMMAND...: runs COMMAND with its stdout/stderr appended to LOGFILE,
# under min(SECONDS, what is left of the budget), and records the outcome.
step() {
    local name="$1" limit="$2" log="$3"
    shift 3
    local now left t0 rc
    now=$(date +%s)
    left=$(( BUDGET - (now - START) ))
    if [ "$left" -lt 10 ]; then
        echo "step $name: SKIPPED (total budget of ${BUDGET}s used up)" | tee -a "$SUMMARY"
        FAILED+=("$name")
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "=== $name (timeout ${limit}s): $*" >> "$log"
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    local took=$(( $(date +%s) - t0 ))
    if [ "$rc" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "step $name: ok (${took}s)" | tee -a "$SUMMARY"
    else
        [ "$rc" = 124 ] || [ "$rc" = 137 ] && rc="timeout after ${limit}s"
        FAILED+=("$name")
        echo "step $name: FAILED ($rc, ${took}s; see $(basename "$log"))" | tee -a "$SUMMARY"
    fi
}

ENV_LOG="$OUTDIR/env.txt"
: > "$ENV_LOG"
{
    echo "gpu_check $( [ "$DRY" = 1 ] && echo '(dry, emulated gpu(0))') $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    uname -a
} >> "$ENV_LOG"
if [ "$DRY" = 1 ]; then
    step env 60 "$ENV_LOG" "$PY" -m gpuparams info
else
    step nvidia-smi 30 "$ENV_LOG" nvidia-smi -q
    step env 60 "$ENV_LOG" bash -c "'$PY' -m gpuparams info && (nvcc --version; compute-sanitizer --version; '$PY' -c 'import cupy, torch; print(\"cupy\", cupy.__version__, \"torch\", torch.__version__)') 2>&1 | cat"
fi

PYTEST_LOG="$OUTDIR/pytest-gpu.log"
: > "$PYTEST_LOG"
if [ "$DRY" = 1 ]; then
    # No GPU: the selection must exist and collect.
    step pytest-gpu 120 "$PYTEST_LOG" "$PY" -m pytest -q -p no:cacheprovider -m gpu --collect-only tests
else
    # The first step to compile dense.cu with NVRTC on the box (a minute); CuPy's kernel cache then
    # serves every later step.
    step pytest-gpu 200 "$PYTEST_LOG" "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs tests
fi

SAN_LOG="$OUTDIR/sanitizer.log"
: > "$SAN_LOG"
if [ "$DRY" = 1 ]; then
    # The emulator checks what the sanitizers check (bounds, barriers, races by thread order,
    # cp.async landing); the sweep must reach every kernel.
    step kernel-sweep 300 "$SAN_LOG" "$PY" benchmarks/kernel_sweep.py --expect-all
else
    for tool in memcheck racecheck synccheck; do
        step "sanitizer-$tool" 120 "$SAN_LOG" compute-sanitizer --tool "$tool" --error-exitcode 1 \
            "$PY" benchmarks/kernel_sweep.py --expect-all
    done
fi

BENCH_LOG="$OUTDIR/bench.log"
: > "$BENCH_LOG"
if [ "$DRY" = 1 ]; then
    step bench-list 60 "$BENCH_LOG" "$PY" -m gpuparams bench --suite kernels --suite train --list
else
    step bench-kernels 150 "$BENCH_LOG" "$PY" -m gpuparams bench --suite kernels --rounds 2 --reps 5 \
        --warmup 1 --max-reruns 1 --out "$OUTDIR" --no-chart
    step bench-train 140 "$BENCH_LOG" "$PY" -m gpuparams bench --suite train --rounds 2 --reps 3 \
        --warmup 1 --max-reruns 1 --out "$OUTDIR" --no-chart
fi

if [ "$DRY" = 1 ]; then
    step plan-sweep 60 "$BENCH_LOG" "$PY" benchmarks/plan_sweep.py --dry --out "$OUTDIR/plan-sweep.json"
else
    step plan-sweep 90 "$BENCH_LOG" "$PY" benchmarks/plan_sweep.py --out "$OUTDIR/plan-sweep.json"
fi

TOTAL=$(( PASSED + ${#FAILED[@]} ))
ELAPSED=$(( $(date +%s) - START ))
LINE="gpu_check$( [ "$DRY" = 1 ] && echo ' (dry)'): $PASSED/$TOTAL steps ok in ${ELAPSED}s"
[ "${#FAILED[@]}" -gt 0 ] && LINE="$LINE; failed: ${FAILED[*]}"
LINE="$LINE; results in $OUTDIR"
echo "$LINE" | tee -a "$SUMMARY"
[ "${#FAILED[@]}" = 0 ]
