"""Suite ``kernels``: our dense kernels against cuBLAS (through CuPy) and PyTorch eager.

Rows, per shape (``4096x4096->4096`` and batch 256/512/1024/2048 × 1024→1024):

* ``forward gemm``       — ``dense_forward(x, w)`` vs ``cupy.matmul(x, w.T)`` (cuBLAS SGEMM);
* ``fused dense+bias+relu`` — ``dense_forward(x, w, b, 'relu')`` vs the CuPy chain
  (matmul → ``+ b`` → ``maximum``) and vs PyTorch eager ``relu(linear(x, w, b))``;
* ``backward``           — ``dense_backward`` (dX, dW, db) vs CuPy's cuBLAS ``dy @ w``, ``dy.T @ x``,
  ``dy.sum(0)``;
* ``backward relu``      — the same with the ReLU mask ``dy * (y > 0)`` (fused into our kernels' loads,
  a separate elementwise kernel for CuPy).

TFLOP/s counts the GEMM work only (2·N·K·M per GEMM); the bias and ReLU epilogue is not counted.
"""
from __future__ import annotations

import math

import numpy as np

from ..gate import to_numpy
from ..harness import Bound, Case, SkipCase
from ._common import free_memory, require_kernels, require_torch, to_torch

DEVICE = "gpu"
DESCRIPTION = "dense forward / fused bias+ReLU / backward kernels vs cuBLAS (CuPy) and PyTorch eager"

#: (N, K, M): batch, input features, output features.
SHAPES = ((4096, 4096, 4096), (256, 1024, 1024), (512, 1024, 1024), (1024, 1024, 1024),
          (2048, 1024, 1024))


def shape_label(n, k, m):
    """``"256x1024->1024"``: batch × in → out."""
    return f"{n}x{k}->{m}"


class _Inputs:
    """Float32 inputs made on the host from a seeded generator, copied to the device once; float64
    copies for the references are made on the device only when the gate asks for them."""

    def __init__(self, env, n, k, m, salt):
        rng = env.rng(*salt)
        bound = 1.0 / math.sqrt(k)
        self.env = env
        self.x = env.asarray(rng.uniform(-1, 1, (n, k)).astype(np.float32))
        self.w = env.asarray(rng.uniform(-bound, bound, (m, k)).astype(np.float32))
        self.b = env.asarray(rng.uniform(-0.5, 0.5, (m,)).astype(np.float32))
        self.dy = env.asarray(rng.uniform(-1, 1, (n, m)).astype(np.float32))
        xp = env.xp
        # The ReLU output whose mask the backward uses: computed once, same for every side.
        self.y = xp.maximum(xp.matmul(self.x, self.w.T) + self.b, 0).astype(np.float32)

    def f64(self, name):
        return getattr(self, name).astype(np.float64)


def _forward_reference(inp, bias, relu):
    xp = inp.env.xp

    def reference():
        z = xp.matmul(inp.f64("x"), inp.f64("w").T)
        if bias:
            z = z + inp.f64("b")
        if relu:
            z = xp.maximum(z, 0)
        return to_numpy(z)
    return reference


def _backward_reference(inp, relu):
    xp = inp.env.xp

    def reference():
        dz = inp.f64("dy")
        if relu:
            dz = dz * (inp.y > 0)
        return (to_numpy(xp.matmul(dz, inp.f64("w"))), to_numpy(xp.matmul(dz.T, inp.f64("x"))),
                to_numpy(dz.sum(axis=0)))
    return reference


def _bytes_forward(n, k, m, bias):
    return 4.0 * (n * k + m * k + n * m + (m if bias else 0))


def _bytes_backward(n, k, m, relu):
    # Read dy, x, w (and y for the mask); write dx, dw, db.
    return 4.0 * (n * m + n * k + m * k + (n * m if relu else 0) + n * k + m * k + m)


def _closer(env, inp_holder):
    def close():
        inp_holder.clear()
        free_memory(env)
    return close


def _forward_case(env, n, k, m, *, fused, baseline):
    xp_name = env.xp.__name__
    if fused:
        name = "fused dense+bias+relu"
        base_label = "torch eager relu(linear)" if baseline == "torch" else f"{xp_name} chain"
    else:
        name = "forward gemm"
        base_label = f"{xp_name}.matmul"

    def build():
        kernels = require_kernels()
        torch = missing = None
        if baseline == "torch":
            try:
                torch = require_torch(env)
            except SkipCase as exc:
                missing = str(exc)
        inp = _Inputs(env, n, k, m, salt=(n, k, m))
        holder = [inp]
        ctx, xp = env.ctx, env.xp
        x, w, b = inp.x, inp.w, inp.b
        if fused:
            def ours():
                return kernels.dense_forward(ctx, x, w, b, activation="relu")
        else:
            def ours():
                return kernels.dense_forward(ctx, x, w)
        if missing:
            theirs = None
        elif baseline == "torch":
            tx, tw, tb = (to_torch(torch, a, env.torch_device) for a in (x, w, b))
            functional = torch.nn.functional

            def theirs():
                return torch.relu(functional.linear(tx, tw, tb))
        elif fused:
            def theirs():
                return xp.maximum(xp.matmul(x, w.T) + b, 0)
        else:
            def theirs():
                return xp.matmul(x, w.T)
        return Bound(ours, theirs, _forward_reference(inp, fused, fused),
                     close=_closer(env, holder), baseline_skipped=missing)

    return Case("kernels", name, shape_label(n, k, m), base_label, build,
                flops=2.0 * n * k * m, bytes=_bytes_forward(n, k, m, fused),
                modes=_modes(env))


def _backward_case(env, n, k, m, *, relu):
    xp_name = env.xp.__name__

    def build():
        kernels = require_kernels()
        inp = _Inputs(env, n, k, m, salt=(n, k, m))
        holder = [inp]
        ctx, xp = env.ctx, env.xp
        x, w, dy, y = inp.x, inp.w, inp.dy, inp.y
        mask_from = y if relu else None

        def ours():
            return kernels.dense_backward(ctx, dy, x, w, mask_from, need_dx=True, need_dw=True,
                                          need_db=True)

        if relu:
            def theirs():
                dz = dy * (y > 0)
                return xp.matmul(dz, w), xp.matmul(dz.T, x), dz.sum(axis=0)
        else:
            def theirs():
                return xp.matmul(dy, w), xp.matmul(dy.T, x), dy.sum(axis=0)
        return Bound(ours, theirs, _backward_reference(inp, relu), close=_closer(env, holder))

    flops = 4.0 * n * k * m
    nbytes = _bytes_backward(n, k, m, relu)
    gemm_bytes = 4.0 * (n * m + m * k + n * k)
    return Case("kernels", "backward relu" if relu else "backward", shape_label(n, k, m),
                f"{xp_name} cuBLAS backward" if env.kind == "gpu" else f"{xp_name} backward", build,
                flops=flops, bytes=nbytes,
                terms=[(2.0 * n * k * m, gemm_bytes), (2.0 * n * k * m, gemm_bytes)],
                modes=_modes(env))


def _modes(env):
    return ("kernel", "pipelined") if env.kind == "gpu" else ("host",)


def cases(env):
    """The suite's cases for ``env`` (shapes from ``env.shapes['kernels']`` when given)."""
    shapes = env.shapes.get("kernels", SHAPES)
    out = []
    for n, k, m in shapes:
        out.append(_forward_case(env, n, k, m, fused=False, baseline="xp"))
        out.append(_forward_case(env, n, k, m, fused=True, baseline="xp"))
        out.append(_forward_case(env, n, k, m, fused=True, baseline="torch"))
        out.append(_backward_case(env, n, k, m, relu=False))
        out.append(_backward_case(env, n, k, m, relu=True))
    return out
