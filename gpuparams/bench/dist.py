"""``bench --suite dist``: allreduce bandwidth by message size, and data-parallel scaling on one machine.

Every measurement is a real ``mpiexec`` job of :mod:`gpuparams.bench.dist_worker`:

* **allreduce** of float32 messages from 4 KB to 64 MB (to 1 MB with ``--quick``) between
  ``--procs`` ranks: median time, the algorithm bandwidth (bytes / time) and the bus bandwidth
  (NCCL-tests' convention: algorithm bandwidth × 2(n-1)/n, what each link carries), for
  ``distributed.allreduce`` against mpi4py's blocking ``Allreduce`` of the same buffer in the same job,
  the sum checked against float64. On CPU arrays over MPI; on GPU arrays over NCCL when the machine
  has ``--procs`` GPUs and NCCL (otherwise those rows say why they did not run).
* **scaling** of the MLP 784-256-256-10 training step, batch 128 per rank, from 1 to ``--procs``
  processes (weak scaling: examples/s of the job against ``n`` times one process). On one machine
  the processes share its cores, so every process, in every job, gets ``cores // procs`` BLAS threads
  (recorded in the rows), and a second set of rows runs the same jobs without the gradient average
  ("alone"): the gap between the two is what the communication costs, the rest is the machine.

Results go to ``<out>/dist-<host>-<date>.json``, written atomically, and as a table to stdout.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys

from .report import slugify, write_json_atomic
from .stats import summarize_times

__all__ = ["find_mpiexec", "run_dist", "ALLREDUCE_SIZES"]

ALLREDUCE_SIZES = tuple(4 ** k * 1024 for k in range(1, 9))  # 4 KB .. 64 MB
QUICK_SIZES = tuple(s for s in ALLREDUCE_SIZES if s <= 2 ** 20)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def find_mpiexec():
    """``mpiexec`` next to this Python (the ``mpich`` wheel's), else on ``PATH``; None if absent."""
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def _launch_args(mpiexec, n):
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=60)
    cmd = [mpiexec, "-n", str(n)]
    if "Open MPI" in version.stdout + version.stderr:
        cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd


def _run_job(mpiexec, n, args, threads, timeout_s):
    env = dict(os.environ)
    for name in _THREAD_VARS:
        env[name] = str(threads)
    cmd = _launch_args(mpiexec, n) + [sys.executable, "-m", "gpuparams.bench.dist_worker", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):]), None
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return None, f"exit {done.returncode}: {' | '.join(tail) or 'no output'}"


def _gpu_reason(procs):
    from .. import backend
    from ..distributed._nccl import nccl_available
    if backend.emulation_enabled():
        return "GPUPARAMS_EMULATE_GPU is set (the emulator has no NCCL)"
    count = backend.gpu_count()
    if count < procs:
        return f"needs {procs} GPUs, this machine has {count}"
    if not nccl_available():
        return "CuPy cannot load NCCL (pip install -e '.[cuda13]')"
    return None


def _allreduce_rows(mpiexec, procs, sizes, reps, warmup, where, threads):
    args = ["allreduce", ",".join(map(str, sizes)), str(reps), str(warmup), where]
    result, error = _run_job(mpiexec, procs, args, threads, 900)
    rows = []
    if result is None:
        return [{"name": "allreduce", "backend": "nccl" if where == "gpu" else "mpi", "ranks": procs,
                 "status": f"failed: {error}"}]
    for r in result["rows"]:
        stats = summarize_times(r["times_ms"])
        alg = r["bytes"] / (stats.median_ms * 1e-3) / 1e9
        row = {"name": "allreduce", "backend": result["backend"], "device": result["device"],
               "ranks": procs, "bytes": r["bytes"], "gpuparams": stats.as_dict(), "algbw_gbps": alg,
               "busbw_gbps": alg * 2 * (procs - 1) / procs, "max_rel_err": r["max_rel_err"],
               "status": "ok" if r["max_rel_err"] <= 1e-6 else "incorrect"}
        if r["baseline_ms"]:
            base = summarize_times(r["baseline_ms"])
            row["baseline"] = "mpi4py Allreduce"
            row["baseline_stats"] = base.as_dict()
            row["ratio"] = base.median_ms / stats.median_ms
        rows.append(row)
    return rows


def _scaling_rows(mpiexec, procs, steps, warmup, where, cores, what="mlp"):
    rows, one = [], None
    # The same BLAS threads in every job (a core each in the largest one), so the rows compare
    # communication and not thread counts.
    threads = max(1, cores // procs)
    for n in range(1, procs + 1):
        result, error = _run_job(mpiexec, n, [what, str(steps), str(warmup), "128", where], threads, 900)
        row = {"name": "mlp step scaling", "ranks": n, "blas_threads": threads,
               "backend": "nccl" if where == "gpu" else "mpi", "averaged": what == "mlp"}
        if result is None:
            row["status"] = f"failed: {error}"
        else:
            row.update(device=result["device"], examples_per_s=result["examples_per_s"],
                       batch_per_rank=result["batch_per_rank"], steps=steps, status="ok")
            if n == 1:
                one = result["examples_per_s"]
            if one:
                row["efficiency"] = result["examples_per_s"] / (n * one)
        rows.append(row)
    return rows


def run_dist(procs=2, reps=20, warmup=3, quick=False, out_dir="benchmarks/results", write=True,
             log=None, out=None, argv=None):
    """Run the suite; return ``(exit code, result dict or None)``.

    Exit codes as ``gpuparams bench``: 0 every row ran and was correct, 1 a row failed or was wrong,
    3 no ``mpiexec`` here.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    out = out or sys.stdout
    mpiexec = find_mpiexec()
    if mpiexec is None:
        log("suite dist: not run here (no mpiexec: pip install -e '.[distributed]')")
        return 3, None
    cores = os.cpu_count() or 1
    sizes = QUICK_SIZES if quick else ALLREDUCE_SIZES
    steps = 10 if quick else 50
    rows = []
    log(f"suite dist: allreduce over {procs} ranks, {len(sizes)} sizes (cpu arrays, MPI)")
    rows += _allreduce_rows(mpiexec, procs, sizes, reps, warmup, "cpu", max(1, cores // procs))
    gpu_reason = _gpu_reason(procs)
    if gpu_reason is None:
        log("suite dist: allreduce over NCCL")
        rows += _allreduce_rows(mpiexec, procs, sizes, reps, warmup, "gpu", 1)
    else:
        rows.append({"name": "allreduce", "backend": "nccl", "ranks": procs,
                     "status": f"skipped: {gpu_reason}"})
    log(f"suite dist: MLP step scaling, 1..{procs} processes")
    rows += _scaling_rows(mpiexec, procs, steps, warmup, "cpu", cores)
    rows += _scaling_rows(mpiexec, procs, steps, warmup, "cpu", cores, "mlp-alone")
    if gpu_reason is None:
        rows += _scaling_rows(mpiexec, procs, steps, warmup, "gpu", cores)
    else:
        rows.append({"name": "mlp step scaling", "backend": "nccl", "ranks": procs,
                     "status": f"skipped: {gpu_reason}"})
    host = platform.node() or "host"
    result = {"schema": "gpuparams-bench-dist/1",
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(argv) if argv else None, "host": host, "cores": cores,
              "mpi": _mpi_version(mpiexec), "procs": procs, "reps": reps, "warmup": warmup, "rows": rows}
    print(markdown(rows), file=out)
    if write:
        path = os.path.join(out_dir, f"dist-{slugify(host)}-{_dt.date.today().isoformat()}.json")
        write_json_atomic(result, path)
        log(f"wrote {path}")
    bad = [r for r in rows if r["status"] != "ok" and not r["status"].startswith("skipped")]
    return (1 if bad else 0), result


def _mpi_version(mpiexec):
    done = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=60)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return " ".join(lines[:2]) if lines else None


def _size_text(nbytes):
    for unit, scale in (("MB", 2 ** 20), ("KB", 2 ** 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes} B"


def markdown(rows):
    """The rows as two Markdown tables (allreduce, then scaling)."""
    lines = ["| allreduce | ranks | size | gpuparams ms (p10–p90) | mpi4py ms | ratio | algbw GB/s | "
             "busbw GB/s | status |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["name"] != "allreduce":
            continue
        if "gpuparams" not in r:
            lines.append(f"| {r['backend']} | {r['ranks']} | – | – | – | – | – | – | {r['status']} |")
            continue
        g = r["gpuparams"]
        base = f"{r['baseline_stats']['median_ms']:.3f}" if "baseline_stats" in r else "–"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "–"
        lines.append(f"| {r['backend']} | {r['ranks']} | {_size_text(r['bytes'])} | {g['median_ms']:.3f} "
                     f"({g['p10_ms']:.3f}–{g['p90_ms']:.3f}) | {base} | {ratio} | {r['algbw_gbps']:.2f} | "
                     f"{r['busbw_gbps']:.2f} | {r['status']} |")
    lines += ["", "| mlp step scaling | gradients | processes | BLAS threads each | examples/s | "
              "efficiency | status |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["name"] != "mlp step scaling":
            continue
        eps = f"{r['examples_per_s']:,.0f}" if "examples_per_s" in r else "–"
        eff = f"{r['efficiency'] * 100:.0f} %" if "efficiency" in r else "–"
        grads = "averaged" if r.get("averaged", True) else "alone"
        lines.append(f"| {r['backend']} | {grads} | {r['ranks']} | {r.get('blas_threads', '–')} | {eps} | "
                     f"{eff} | {r['status']} |")
    return "\n".join(lines)
