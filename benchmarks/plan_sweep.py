#!/usr/bin/env python3
"""The planner sweep (issue 12): the cost model's plan against forced plans, timed on gpu(0).

For the dense shapes of the ``kernels`` suite (forward 4096×4096→4096; batch 256/512/1024/2048 ×
1024→1024, forward and backward) it times the automatic plan and every forced ``tile:split`` of
:data:`FORCED` with CUDA events (median of ``--reps`` after ``--warmup`` calls, no L2 flush: the
ranking is what is measured), and writes one JSON file: per shape and GEMM the model's estimate and
the measured time of every plan, and where the automatic plan ranks. ``--dry`` (for CI, e.g. on the
emulated gpu(0)) only lists the plans and estimates, without timing.

    python benchmarks/plan_sweep.py --out plan-sweep.json
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gpuparams as gp
from gpuparams.backend import array_module, dense_launch, gemm_plan
from gpuparams.backend import kernels as K

SHAPES = [(4096, 4096, 4096), (256, 1024, 1024), (512, 1024, 1024), (1024, 1024, 1024),
          (2048, 1024, 1024)]
FORCED = [("w", 1), ("w", 2), ("w", 4), ("m", 1), ("m", 2), ("m", 4), ("m", 8), ("l", 1),
          ("s", 1), ("s", 4)]


def _time(cupy, fn, reps, warmup):
    for _ in range(warmup):
        fn()
    cupy.cuda.runtime.deviceSynchronize()
    events = [(cupy.cuda.Event(), cupy.cuda.Event()) for _ in range(reps)]
    for start, end in events:
        start.record()
        fn()
        end.record()
    events[-1][1].synchronize()
    return float(np.median([cupy.cuda.get_elapsed_time(s, e) for s, e in events]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="plan-sweep.json")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dry", action="store_true", help="plans and estimates only, no timing")
    args = parser.parse_args(argv)
    if os.environ.get(gemm_plan.PLAN_ENV):
        parser.error(f"unset {gemm_plan.PLAN_ENV}: the sweep forces plans itself")
    ctx = gp.gpu(0)
    xp = array_module(ctx)
    model = dense_launch.device_model_of(ctx)
    bps = dense_launch.blocks_per_sm(ctx)
    rng = np.random.default_rng(0)
    rows = []
    started = time.time()
    for N, Kd, M in SHAPES:
        x = xp.asarray(rng.uniform(-1, 1, (N, Kd)).astype(np.float32))
        w = xp.asarray(rng.uniform(-1, 1, (M, Kd)).astype(np.float32))
        dy = xp.asarray(rng.uniform(-1, 1, (N, M)).astype(np.float32))
        y = xp.asarray(np.maximum(rng.uniform(-1, 1, (N, M)), 0).astype(np.float32))
        for gemm in ("forward", "backward"):
            if gemm == "backward" and N == Kd == M == 4096:
                continue
            entry = {"shape": f"{N}x{Kd}->{M}", "gemm": gemm, "plans": []}
            for tile in [None] + FORCED:
                if gemm == "forward":
                    plan = gemm_plan.plan_gemm(N, M, Kd, model, bps, tile=tile)
                    desc = f"{plan.config.name}:{plan.splits}"
                    est = plan.est_us
                    def call(t=tile, x=x, w=w):
                        return K.dense_forward(ctx, x, w, activation="relu", tile=t)
                else:
                    plan = gemm_plan.plan_backward(N, Kd, M, model, bps, tile=tile)
                    desc = (f"{'grouped ' if plan.grouped else ''}dx {plan.dx.config.name}:"
                            f"{plan.dx.splits} dw {plan.dw.config.name}:{plan.dw.splits}")
                    est = plan.est_us
                    def call(t=tile, dy=dy, x=x, w=w, y=y):
                        return K.dense_backward(ctx, dy, x, w, y, tile=t)
                row = {"forced": None if tile is None else f"{tile[0]}:{tile[1]}", "plan": desc,
                       "est_us": round(est, 2), "ms": None}
                if not args.dry:
                    row["ms"] = _time(xp, call, args.reps, args.warmup)
                entry["plans"].append(row)
            if not args.dry:
                auto = entry["plans"][0]["ms"]
                entry["auto_rank"] = 1 + sum(1 for r in entry["plans"][1:] if r["ms"] < auto)
                entry["best"] = min(entry["plans"], key=lambda r: r["ms"])["plan"]
            rows.append(entry)
            best = f", auto rank {entry['auto_rank']} of {len(entry['plans'])}" if not args.dry else ""
            print(f"{entry['shape']} {gemm}: auto {entry['plans'][0]['plan']}{best}", flush=True)
    result = {"schema": "gpuparams-plan-sweep/1", "device": model.name, "dry": args.dry,
              "seconds": round(time.time() - started, 1), "rows": rows}
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, args.out)
    print(f"plan_sweep: {len(rows)} GEMMs, written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
