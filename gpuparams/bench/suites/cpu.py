"""Suite ``cpu``: the CPU benchmarks of issues 2 and 4, in the harness's format.

* ``overhead <op>`` (issue 2, ``benchmarks/cpu_overhead.py``): one recorded op on 16×16 arrays —
  ``add``, ``mul``, ``dot``, ``relu`` — forward and backward under ``autograd.record()``, against the
  same arithmetic in raw NumPy (the floor: no tape, no dispatch) and against PyTorch CPU autograd.
  These rows measure framework overhead, not arithmetic: their TFLOP/s is tiny by design.
* ``np overhead <op>`` (issue 16): the same recorded op through ``gpuparams.np`` against ``nd``, so
  the NumPy front end's per-op cost shows as a ratio (1.0: none).
* ``mlp train step`` (issue 4, ``benchmarks/cpu_train.py``): forward, softmax-CE, backward and SGD of
  an MLP 784-256-256-10 at batch 128 on ``cpu(0)`` vs PyTorch CPU with the same thread count.
* ``linreg chapter`` (issue 4): the linear-regression chapter's 3 epochs vs PyTorch CPU and vs MXNet
  (the MXNet row says "skipped" where MXNet is not installed).
* ``mlp train step hybridized`` / ``linreg chapter hybridized`` (issue 11): the same code after
  ``net.hybridize()`` against gpuparams imperative and against the step written by hand in NumPy, at
  batch 8, 32 and 128 (plus the imperative step against NumPy, so the three compare in one run).

All rows use host timers (``mode = host``), interleaved A/B like the GPU suites.
"""
from __future__ import annotations

import numpy as np

from ..harness import Bound, Case, SkipCase
from ._common import require_framework, require_torch
from ._models import linreg_case, mlp_case

DEVICE = "cpu"
DESCRIPTION = "CPU overhead per recorded op, MLP training step and the linear-regression chapter"

OPS = ("add", "mul", "dot", "relu")
OVERHEAD_SIZE = 16
MLP_SIZES = (784, 256, 256, 10)
MLP_BATCH = 128
HYBRID_BATCHES = (8, 32, 128)


def _op_flops(op, n):
    """Forward + backward FLOPs of ``op`` on n×n inputs (head gradient of ones)."""
    elems = n * n
    return {"add": elems, "mul": 3 * elems, "dot": 6 * n ** 3, "relu": 2 * elems}[op]


def _op_inputs(env, n):
    rng = env.rng(17, n)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    return a, b


def _op_reference(op, a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    g = np.ones_like(a)
    if op == "add":
        return a + b, g, g
    if op == "mul":
        return a * b, g * b, g * a
    if op == "dot":
        return a @ b, g @ b.T, a.T @ g
    return np.maximum(a, 0), g * (a > 0)


def _gluon_op(op, a_host, b_host, ctx, front="nd"):
    gp = require_framework("nd.array", "nd.dot", "nd.relu", "autograd.record")
    autograd = gp.autograd
    if front == "np":  # the same op through the NumPy front end: np arrays, np.dot, npx.relu
        from gpuparams import np as fe, npx
        a, b = fe.array(a_host, ctx=ctx), fe.array(b_host, ctx=ctx)
        dot, relu = fe.dot, npx.relu
    else:
        nd = gp.nd
        a, b = nd.array(a_host, ctx=ctx), nd.array(b_host, ctx=ctx)
        dot, relu = nd.dot, nd.relu
    a.attach_grad()
    b.attach_grad()
    forward = {"add": lambda: a + b, "mul": lambda: a * b, "dot": lambda: dot(a, b),
               "relu": lambda: relu(a)}[op]

    def step():
        with autograd.record():
            y = forward()
        y.backward()       # non-scalar head: a gradient of ones (DESIGN.md §2)
        return (y, a.grad) if op == "relu" else (y, a.grad, b.grad)
    return step


def _numpy_op(op, a, b):
    # The same forward and backward arithmetic, written by hand: what the op costs without a framework.
    if op == "add":
        def step():
            y = a + b
            g = np.ones_like(y)
            return y, g.copy(), g.copy()
    elif op == "mul":
        def step():
            y = a * b
            g = np.ones_like(y)
            return y, g * b, g * a
    elif op == "dot":
        def step():
            y = a @ b
            g = np.ones_like(y)
            return y, g @ b.T, a.T @ g
    else:
        def step():
            y = np.maximum(a, 0)
            g = np.ones_like(y)
            return y, g * (a > 0)
    return step


def _torch_op(torch, op, a_host, b_host):
    a = torch.from_numpy(a_host.copy()).requires_grad_(True)
    b = torch.from_numpy(b_host.copy()).requires_grad_(True)
    head = torch.ones(a_host.shape, dtype=torch.float32)
    forward = {"add": lambda: a + b, "mul": lambda: a * b, "dot": lambda: a @ b,
               "relu": lambda: torch.relu(a)}[op]

    def step():
        # Overwrite, not accumulate, like Gluon's grad_req='write'.
        a.grad = None
        b.grad = None
        y = forward()
        y.backward(head)
        return (y, a.grad) if op == "relu" else (y, a.grad, b.grad)
    return step


def overhead_case(env, op, baseline, n=OVERHEAD_SIZE):
    """One recorded ``op`` (forward + backward) on n×n vs ``"numpy"`` or ``"torch"``."""
    def build():
        a, b = _op_inputs(env, n)
        ours = _gluon_op(op, a, b, env.ctx)
        missing = None
        if baseline == "torch":
            try:
                theirs = _torch_op(require_torch(env), op, a, b)
            except SkipCase as exc:
                theirs, missing = None, str(exc)
        else:
            theirs = _numpy_op(op, a, b)
        return Bound(ours, theirs, lambda: _op_reference(op, a, b), baseline_skipped=missing)

    label = "torch autograd (cpu)" if baseline == "torch" else "numpy (no autograd)"
    elems = n * n
    nbytes = 4.0 * elems * (3 if op in ("relu",) else 5)
    return Case("cpu", f"overhead {op}", f"{n}x{n}", label, build, flops=float(_op_flops(op, n)),
                bytes=nbytes, modes=("host",), note="forward + backward under autograd.record()")


def np_front_case(env, op, n=OVERHEAD_SIZE):
    """One recorded ``op`` through ``gpuparams.np`` (ours) vs the same op through ``nd`` (baseline):
    the cost of the NumPy front end's semantics (promotion check, 0-d/bool rules) per op."""
    def build():
        a, b = _op_inputs(env, n)
        ours = _gluon_op(op, a, b, env.ctx, front="np")
        theirs = _gluon_op(op, a, b, env.ctx, front="nd")
        return Bound(ours, theirs, lambda: _op_reference(op, a, b))

    elems = n * n
    nbytes = 4.0 * elems * (3 if op in ("relu",) else 5)
    return Case("cpu", f"np overhead {op}", f"{n}x{n}", "gpuparams nd", build,
                flops=float(_op_flops(op, n)), bytes=nbytes, modes=("host",),
                note="forward + backward under autograd.record(); np front end vs nd")


def cases(env):
    """The suite's cases for ``env``."""
    shapes = env.shapes.get("cpu", {})
    n = shapes.get("overhead", OVERHEAD_SIZE)
    sizes = shapes.get("mlp", MLP_SIZES)
    batch = shapes.get("mlp_batch", MLP_BATCH)
    out = []
    for op in OPS:
        out.append(overhead_case(env, op, "numpy", n))
        out.append(overhead_case(env, op, "torch", n))
        out.append(np_front_case(env, op, n))
    out.append(mlp_case(env, "cpu", "mlp train step", sizes, batch, modes=("host",)))
    # hybridize() (issue 11): the same step hybridized, against gpuparams imperative and against the
    # step written by hand in NumPy, at three batch sizes (the overhead shows at the small ones)
    for hb in shapes.get("hybrid_batches", HYBRID_BATCHES):
        for baseline in ("imperative", "numpy"):
            out.append(mlp_case(env, "cpu", "mlp train step hybridized", sizes, hb, modes=("host",),
                                hybridize=True, baseline=baseline))
        out.append(mlp_case(env, "cpu", "mlp train step", sizes, hb, modes=("host",), baseline="numpy"))
    out.append(linreg_case(env, "torch"))
    out.append(linreg_case(env, "mxnet"))
    out.append(linreg_case(env, "imperative", hybridize=True))
    return out
