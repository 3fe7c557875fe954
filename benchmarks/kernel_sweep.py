#!/usr/bin/env python3
"""Run every kernel of ``kernels/*.cu`` in every tile configuration once, on shapes that reach every
code path, and check each result against float64 NumPy (issue 12; gpu_check.sh runs it under
``compute-sanitizer`` memcheck, racecheck and synccheck).

    python benchmarks/kernel_sweep.py            # gpu(0)
    GPUPARAMS_EMULATE_GPU=1 python benchmarks/kernel_sweep.py --expect-all   # the emulated gpu(0)

Paths reached per tile (``w``, ``m`` cp.async with and without split-K; ``l``; ``s`` with and without
split-K): forward with bias and ReLU and plain; the grouped backward with and without the ReLU mask;
dX alone, dW + db, dW alone; db alone (``dense_bwd_db``); accumulation; misaligned operands and odd
leading dimensions (the fallback tiles). Then ReLU, SGD (with and without momentum) and Adam.
``--expect-all`` fails unless every kernel of every file was launched. Prints one line per case and
a last line ``kernel_sweep: N cases ok, K kernels launched``; exits 1 on a wrong result.
"""
import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gpuparams as gp
from gpuparams import backend
from gpuparams.backend import kernels as K
from gpuparams.backend import loader

TILES = [("w", 1), ("w", 2), ("m", 1), ("m", 3), ("l", 1), ("s", 1), ("s", 3)]
ALIGNED = (70, 44, 36)      # N, K, M: ragged tiles, every leading dimension a multiple of 4
UNALIGNED = (70, 45, 33)    # odd leading dimensions: the fallback tiles


def all_kernel_names():
    """Entry names of every kernel file (extern "C" functions and the macro-made dense kernels)."""
    names = set()
    for path in sorted(K.kernel_dir().glob("*.cu")):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'extern "C" __global__ void(?: __launch_bounds__\([^)]*\))?\s+(\w+)\(',
                                text))
        names |= set(re.findall(r"^GP_\w+\((\w+),", text, flags=re.M))
    return {n for n in names if n != "NAME" and not n.startswith("__")}


class Sweep:
    def __init__(self, ctx):
        self.ctx = ctx
        self.xp = backend.array_module(ctx)
        self.rng = np.random.default_rng(0)
        self.cases = 0
        self.launched = set()
        real = loader.launch

        def recording(target, filename, name, *args, **kwargs):
            self.launched.add(name)
            return real(target, filename, name, *args, **kwargs)

        loader.launch = recording  # what every launcher calls

    def put(self, a, misaligned=False):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not misaligned:
            return self.xp.array(a)
        buf = self.xp.empty(a.size + 1, dtype=np.float32)
        view = buf[1:].reshape(a.shape)
        view[...] = self.xp.asarray(a)
        return view

    def get(self, a):
        return a if isinstance(a, np.ndarray) else a.get()

    def check(self, what, got, ref):
        got = np.asarray(self.get(got), dtype=np.float64)
        err = np.abs(got - ref).max() / max(1.0, np.abs(ref).max()) if ref.size else 0.0
        ok = np.isfinite(got).all() and err <= 1e-4
        print(f"{'ok ' if ok else 'BAD'} {what}: max rel err {err:.2e}", flush=True)
        self.cases += 1
        if not ok:
            raise SystemExit(f"kernel_sweep: wrong result in {what}")

    def dense(self, shape, tile, misaligned=False):
        N, Kd, M = shape
        r = self.rng
        x, w, b = (r.uniform(-1, 1, s).astype(np.float32) for s in ((N, Kd), (M, Kd), (M,)))
        dy = r.uniform(-1, 1, (N, M)).astype(np.float32)
        y = np.maximum(r.uniform(-1, 1, (N, M)), 0).astype(np.float32)
        dz = dy.astype(np.float64) * (y > 0)
        d = lambda a: self.put(a, misaligned)  # noqa: E731
        label = f"{'x'.join(map(str, shape))} tile={tile[0]}:{tile[1]}{' misaligned' if misaligned else ''}"
        out = K.dense_forward(self.ctx, d(x), d(w), d(b), activation="relu", tile=tile)
        self.check(f"forward+bias+relu {label}", out,
                   np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0))
        out = K.dense_forward(self.ctx, d(x), d(w), tile=tile)
        self.check(f"forward {label}", out, x.astype(np.float64) @ w.T.astype(np.float64))
        for mask in (True, False):
            z = dz if mask else dy.astype(np.float64)
            gx, gw, gb = K.dense_backward(self.ctx, d(dy), d(x), d(w), d(y) if mask else None,
                                          tile=tile)
            self.check(f"backward mask={mask} dX {label}", gx, z @ w.astype(np.float64))
            self.check(f"backward mask={mask} dW {label}", gw, z.T @ x.astype(np.float64))
            self.check(f"backward mask={mask} db {label}", gb, z.sum(axis=0))
        start = r.uniform(-1, 1, (M, Kd)).astype(np.float32)
        _, gw, gb = K.dense_backward(self.ctx, d(dy), d(x), d(w), d(y), need_dx=False,
                                     dw=d(start), accumulate_dw=True, tile=tile)
        self.check(f"dW accumulate + db {label}", gw, start + dz.T @ x.astype(np.float64))
        gx, _, _ = K.dense_backward(self.ctx, d(dy), d(x), d(w), d(y), need_dw=False, need_db=False,
                                    tile=tile)
        self.check(f"dX alone {label}", gx, dz @ w.astype(np.float64))
        _, gw, _ = K.dense_backward(self.ctx, d(dy), d(x), d(w), d(y), need_dx=False, need_db=False,
                                    tile=tile)
        self.check(f"dW alone {label}", gw, dz.T @ x.astype(np.float64))
        _, _, gb = K.dense_backward(self.ctx, d(dy), d(x), d(w), d(y), need_dx=False, need_dw=False,
                                    tile=tile)
        self.check(f"db alone {label}", gb, dz.sum(axis=0))

    def elementwise(self):
        r = self.rng
        x = r.uniform(-1, 1, 1030).astype(np.float32)
        self.check("relu forward", K.relu_forward(self.ctx, self.put(x)), np.maximum(x, 0))
        dy = r.uniform(-1, 1, 1030).astype(np.float32)
        self.check("relu backward", K.relu_backward(self.ctx, self.put(dy), self.put(np.maximum(x, 0))),
                   dy * (x > 0))
        w, g = r.uniform(-1, 1, 1030), r.uniform(-1, 1, 1030)
        dw = self.put(w)
        K.sgd_update(self.ctx, dw, self.put(g), lr=0.1, wd=0.01)
        self.check("sgd", dw, w - 0.1 * (g + 0.01 * w))
        dw, mom = self.put(w), self.put(np.zeros(1030))
        K.sgd_update(self.ctx, dw, self.put(g), mom, lr=0.1, momentum=0.9)
        self.check("sgd momentum", dw, w - 0.1 * g)
        dw, m, v = self.put(w), self.put(np.zeros(1030)), self.put(np.zeros(1030))
        K.adam_update(self.ctx, dw, self.put(g), m, v, lr_t=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)
        gm, gv = 0.1 * g, 0.001 * g * g
        self.check("adam", dw, w - 0.01 * gm / (np.sqrt(gv) + 1e-8))
        # the same updates reading their hyperparameters from a device array (the captured step's)
        dw = self.put(w)
        K.sgd_update_from(self.ctx, dw, self.put(g), None, self.put([0.1, 0.01, 1.0, -1.0]))
        self.check("sgd from a device array", dw, w - 0.1 * (g + 0.01 * w))
        dw, mom = self.put(w), self.put(np.zeros(1030))
        K.sgd_update_from(self.ctx, dw, self.put(g), mom, self.put([0.1, 0.9, 0.0, 1.0, -1.0]))
        self.check("sgd momentum from a device array", dw, w - 0.1 * g)
        dw, m, v = self.put(w), self.put(np.zeros(1030)), self.put(np.zeros(1030))
        K.adam_update_from(self.ctx, dw, self.put(g), m, v,
                           self.put([0.01, 0.9, 0.1, 0.999, 0.001, 1e-8, 0.0, 1.0, -1.0]))
        self.check("adam from a device array", dw, w - 0.01 * gm / (np.sqrt(gv) + 1e-8))

    def losses(self, rows=70, classes=300):
        """Softmax CE (more classes than the 128 threads of a row block) and the squared error."""
        r = self.rng
        x = r.uniform(-4, 4, (rows, classes)).astype(np.float32)
        label = r.integers(0, classes, rows).astype(np.float32)
        x64 = x.astype(np.float64)
        lse = x64.max(axis=1) + np.log(np.exp(x64 - x64.max(axis=1, keepdims=True)).sum(axis=1))
        loss, stats = K.softmax_ce_forward(self.ctx, self.put(x), self.put(label))
        self.check("softmax-CE forward", loss, lse - x64[np.arange(rows), label.astype(int)])
        g = r.uniform(0.5, 2, rows)
        grad = np.exp(x64 - lse[:, None])
        grad[np.arange(rows), label.astype(int)] -= 1
        out = K.softmax_ce_backward(self.ctx, self.put(x), self.put(label), stats, self.put(g))
        self.check("softmax-CE backward", out, grad * g[:, None])
        p, y = r.uniform(-1, 1, (rows, classes)), r.uniform(-1, 1, (rows, classes))
        gg = r.uniform(-1, 1, (rows, classes))
        self.check("l2 forward", K.l2_forward(self.ctx, self.put(p), self.put(y)), (p - y) ** 2)
        self.check("l2 backward", K.l2_backward(self.ctx, self.put(p), self.put(y), self.put(gg)),
                   2 * (p - y) * gg)
        loss, dp = K.l2_rows(self.ctx, self.put(p), self.put(y), scale=0.5, gscale=0.5 / classes)
        self.check("l2 rows loss", loss, (0.5 * (p - y) ** 2).mean(axis=1))
        self.check("l2 rows gradient", dp, (p - y) / classes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--expect-all", action="store_true",
                        help="fail unless every kernel of kernels/*.cu was launched")
    args = parser.parse_args(argv)
    sweep = Sweep(gp.gpu(0))
    for tile in TILES:
        sweep.dense(ALIGNED, tile)
        if tile[0] in ("l", "s"):
            sweep.dense(UNALIGNED, tile)
            sweep.dense(ALIGNED, tile, misaligned=True)
    sweep.elementwise()
    sweep.losses()
    missing = sorted(all_kernel_names() - sweep.launched)
    print(f"kernel_sweep: {sweep.cases} cases ok, {len(sweep.launched)} kernels launched"
          + (f", never launched: {', '.join(missing)}" if missing else ""))
    if args.expect_all and missing:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
