"""benchmarks/gpu_check.sh in its dry mode on the emulated gpu(0) (issue 12): every step runs under
its own timeout, everything lands in $OUT, and the last line summarises."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def run_check(tmp_path, **env):
    full = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable, **env)
    full.pop("GPUPARAMS_GEMM_PLAN", None)
    return subprocess.run(["bash", str(SCRIPT), "--dry"], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=900)


def test_dry_run_passes_and_writes_everything_under_out(tmp_path):
    proc = run_check(tmp_path)
    out = tmp_path / "out"
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines[-1].startswith("gpu_check (dry): 5/5 steps ok in ") and str(out) in lines[-1]
    names = {p.name for p in out.iterdir()}
    assert names == {"env.txt", "pytest-gpu.log", "sanitizer.log", "bench.log", "plan-sweep.json",
                     "summary.txt"}
    assert len(names) <= 8  # what a device run can bring back
    summary = (out / "summary.txt").read_text().splitlines()
    assert summary[-1] == lines[-1] and all(" ok (" in s for s in summary[:-1])
    sweep = (out / "sanitizer.log").read_text()
    assert "kernel_sweep: " in sweep and "never launched" not in sweep
    plans = json.loads((out / "plan-sweep.json").read_text())
    assert plans["dry"] is True and len(plans["rows"]) == 9
    assert "tests collected" in (out / "pytest-gpu.log").read_text()


def test_an_exhausted_budget_skips_the_remaining_steps_and_fails(tmp_path):
    proc = run_check(tmp_path, GPU_CHECK_BUDGET_S="5")
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 1
    assert last.startswith("gpu_check (dry): 0/5 steps ok") and "failed: env pytest-gpu" in last
    assert "SKIPPED (total budget of 5s used up)" in (tmp_path / "out" / "summary.txt").read_text()
