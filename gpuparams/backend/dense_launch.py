"""The dense-layer launchers: ``dense_forward`` and ``dense_backward`` (``kernels/dense.cu``).

They validate shapes and dtypes, ask the cost-model planner (:mod:`~gpuparams.backend.gemm_plan`)
for the tile configuration and split-K factor of every GEMM, and launch the kernels through
:mod:`~gpuparams.backend.loader` (so a monkeypatched ``loader.launch`` sees them). Both take a
:class:`~gpuparams.backend.devices.Device` or a ``gpu`` context; a context is resolved with the input
data (:func:`~gpuparams.backend.devices.device_for`), so arrays made on the emulated ``gpu(0)`` keep
running in the emulator after the emulation switch flips.

The planner needs each kernel's resident blocks per SM: on a GPU from
``cuOccupancyMaxActiveBlocksPerMultiprocessor`` on the compiled function (with the dynamic shared
memory the launch will ask for); on the emulated ``gpu(0)`` from the compile gate's numbers: the
registers and static shared memory of ``dense.cu``'s ``// @budget`` lines, through
:func:`gemm_plan.occupancy` (the gate checks they give what ptxas gives). The emulated device is
planned as an H100 SXM (132 SMs), so the emulator runs the configurations the real target gets.

The cp.async configurations (``w``, ``m``) run only when every operand they copy is 16-byte
aligned and every leading dimension is a multiple of 4; otherwise the register-staged ``l``/``s``
kernels run, which fall back to scalar loads only for the groups of four that are misaligned or
cross an edge.
"""
from __future__ import annotations

import re
import threading

import numpy as np

from .._tracing import refuse_host_work_in_capture
from . import gemm_plan as _plan
from . import loader as _loader
from ._arrays import alloc as _alloc
from ._arrays import cdiv as _cdiv
from ._arrays import check_array as _check_array
from ._arrays import kernel_device as _kernel_device
from ._arrays import ptr as _ptr
from .devices import as_device

__all__ = ["TileConfig", "GemmPlan", "TILE_CONFIGS", "MAX_SPLITS", "plan_gemm", "plan_backward",
           "sm_count", "dense_forward", "dense_backward", "gemm", "blocks_per_sm", "device_model_of",
           "clear_workspaces"]

TileConfig = _plan.TileConfig
GemmPlan = _plan.GemmPlan
TILE_CONFIGS = _plan.TILE_CONFIGS
MAX_SPLITS = _plan.MAX_SPLITS
plan_gemm = _plan.plan_gemm
plan_backward = _plan.plan_backward
_INT32_MAX = 2**31 - 1

_FILE = "dense.cu"


def sm_count(target):
    """Number of SMs of a device or context's GPU (132, an H100's, for the emulated gpu(0))."""
    return as_device(target).sm_count


# ---------------------------------------------------------------------------------------------------
# Argument checks


def _check_matrix(dev, name, a):
    """Check a 2-D float32 C-contiguous array on ``dev`` and return its shape."""
    return _check_array(dev, name, a, ndim=2).shape


def _check_dims(**dims):
    for name, value in dims.items():
        if value > _INT32_MAX:
            raise ValueError(f"{name}={value} exceeds the dense kernels' 32-bit dimension limit "
                             f"({_INT32_MAX}); split the operation into chunks below it")


def _overlap(a, b):
    if a.size == 0 or b.size == 0:
        return False
    pa, pb = _ptr(a), _ptr(b)
    return pa < pb + b.nbytes and pb < pa + a.nbytes


def _check_distinct(out_name, out, **inputs):
    """An output a GEMM writes while other blocks still read the inputs must not overlap them."""
    for name, a in inputs.items():
        if a is not None and _overlap(out, a):
            raise ValueError(f"{out_name} overlaps {name} in memory; pass a separate output array")


def _output(dev, name, given, shape, accumulate):
    if given is None:
        if accumulate:
            raise ValueError(f"accumulate_{name}=True needs the existing {name} array to add into")
        return _alloc(dev, shape)
    return _check_array(dev, name, given, shape)


def _activation_flag(activation):
    if activation is None or activation == "identity":
        return 0
    if activation == "relu":
        return 1
    raise ValueError(f"activation must be None or 'relu' for the dense kernel, got {activation!r}")

_KERNELS = ("dense_fwd", "dense_bwd_dx", "dense_bwd_dw")
_lock = threading.RLock()


# ---------------------------------------------------------------------------------------------------
# What the planner needs to know about the device

_occupancy_cache = {}  # device key -> {kernel name: blocks per SM}


def _kernel_names():
    for tile in _plan.TILE_CONFIGS:
        for kernel in _KERNELS:
            yield kernel, tile
        if tile in _plan.ASYNC_TILES:
            yield "dense_bwd_grouped", tile


def _threads(tile):
    return _plan.TILE_CONFIGS[tile].threads


def _dynamic_smem(tile):
    return _plan.TILE_CONFIGS[tile].dynamic_smem()


def _gate_resources():
    """``{kernel: (registers, static shared bytes)}`` of dense.cu from its ``// @budget`` lines.

    The compile gate fails any kernel over its budget, and checks that the budgets give the same
    blocks per SM as the registers ptxas allocates (tests/test_compile_gate.py), so these are the
    gate's numbers without compiling at run time (NVRTC takes a minute for dense.cu).
    """
    _, text = _loader.kernel_source(_FILE)
    # The budget lines' leading fields (the gate, gpuparams.gate.nvrtc, parses them in full; the
    # runtime does not import the gate).
    return {name: (int(regs), int(smem)) for name, regs, smem in
            re.findall(r"^\s*//\s*@budget\s+(\S+)\s+registers=(\d+)\s+shared=(\d+)", text, re.M)}


def blocks_per_sm(target):
    """``{'dense_fwd_w': 1, ...}``: resident blocks per SM of every dense GEMM kernel on a device."""
    dev = as_device(target)
    key = dev.cache_key
    table = _occupancy_cache.get(key)
    if table is not None:
        return table
    with _lock:
        table = _occupancy_cache.get(key)
        if table is None:
            table = _emulated_occupancy() if dev.emulated else _cuda_occupancy(dev)
            _occupancy_cache[key] = table
    return table


def _emulated_occupancy():
    resources = _gate_resources()
    table = {}
    for kernel, tile in _kernel_names():
        name = f"{kernel}_{tile}"
        regs, smem = resources.get(name, (255, 0))
        table[name] = _plan.occupancy(regs, _threads(tile), smem, _dynamic_smem(tile), _plan.H100)
    return table


def _cuda_occupancy(dev):
    cupy = dev.xp
    table = {}
    with dev.scope():
        for kernel, tile in _kernel_names():
            name = f"{kernel}_{tile}"
            fn = _loader.get_function(dev, _FILE, name)
            dyn = _dynamic_smem(tile)
            if dyn > 48 * 1024 and fn.max_dynamic_shared_size_bytes < dyn:
                fn.max_dynamic_shared_size_bytes = dyn
            table[name] = int(cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(
                fn.kernel.ptr, _threads(tile), dyn))
    return table


_models = {}


def device_model_of(target):
    """The planner's :class:`~gpuparams.backend.gemm_plan.DeviceModel` of a device's GPU."""
    dev = as_device(target)
    if dev.emulated:
        return _plan.H100
    model = _models.get(dev.cache_key)
    if model is None:
        props = dev.xp.cuda.runtime.getDeviceProperties(dev.device_id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        model = _models[dev.cache_key] = _plan.device_model(name, dev.sm_count)
    return model


# ---------------------------------------------------------------------------------------------------
# Split-K workspaces: one per Device.workspace_key() — (device, stream, thread) on CUDA — so that
# neither two streams nor two host threads sharing a stream (CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1
# gives every thread the same per-thread default stream *pointer*) ever use one workspace and its
# counters at the same time. The counters are zero at rest: each tile's last slice resets its own.

_workspaces = {}


def clear_workspaces():
    """Drop every split-K workspace and the cached occupancy tables."""
    with _lock:
        _workspaces.clear()
        _occupancy_cache.clear()
        _models.clear()


def _workspace(dev, floats, counters):
    """``(ws, cnt)``: float32 scratch of at least ``floats`` and zeroed int32 counters."""
    key = dev.workspace_key()
    xp = dev.xp
    ws, cnt = _workspaces.get(key, (None, None))
    with dev.scope():
        if ws is None or ws.size < max(floats, 1):
            ws = xp.empty(max(floats, 1, 0 if ws is None else ws.size), dtype=np.float32)
        if cnt is None or cnt.size < max(counters, 1):
            cnt = xp.zeros(max(counters, 1, 0 if cnt is None else cnt.size), dtype=np.int32)
    _workspaces[key] = (ws, cnt)
    return ws, cnt


def _split_sizes(plan, out_shape, dsum_rows):
    if plan.splits <= 1:
        return 0, 0
    return plan.splits * (out_shape[0] * out_shape[1] + dsum_rows), plan.grid[0] * plan.grid[1]


def _launch(dev, name, grid, threads, args, shared_mem):
    try:
        _loader.launch(dev, _FILE, name, grid, (threads, 1, 1), args, shared_mem=shared_mem)
    except BaseException:
        # A launch that died half way may leave non-zero counters: start from fresh ones next time.
        _workspaces.pop(dev.workspace_key(), None)
        raise


def _launch_gemm(dev, kernel, plan, args, out_shape, dsum_rows=0):
    floats, counters = _split_sizes(plan, out_shape, dsum_rows)
    ws, cnt = _workspace(dev, floats, counters)
    cfg = plan.config
    _launch(dev, f"{kernel}_{cfg.name}", plan.grid, cfg.threads, tuple(args) + (ws, cnt),
            cfg.dynamic_smem())


# ---------------------------------------------------------------------------------------------------
# Dense layer


def _aligned(arrays, leading_dims):
    """Whether the cp.async kernels may copy ``arrays`` (16-byte aligned, leading dims % 4 == 0)."""
    return (all(d % 4 == 0 for d in leading_dims)
            and all(_ptr(a) % 16 == 0 for a in arrays if a is not None and a.size))


def dense_forward(ctx, x, w, b=None, activation=None, out=None, *, tile=None):
    """``y = act(x · wᵀ + b)`` with the fused GEMM kernel.

    Parameters
    ----------
    ctx : Device or Context
        A device with custom kernels, or a ``gpu`` context (real, or the emulated ``gpu(0)``).
    x : array, (N, K) float32, C-contiguous
    w : array, (M, K) float32, C-contiguous (M = output features)
    b : array, (M,) float32, or None
    activation : None or 'relu'
    out : array, (N, M) float32, optional
        Written in full; must not overlap the inputs.
    tile : None, str or (str, int), optional
        Force a tile configuration and split count (see :func:`gemm_plan.plan_gemm`); by default
        the cost model chooses (or ``GPUPARAMS_GEMM_PLAN``).

    Returns
    -------
    array, (N, M)
    """
    relu = _activation_flag(activation)
    dev = _kernel_device(ctx, x)
    N, K = _check_matrix(dev, "x", x)
    M, K2 = _check_matrix(dev, "w", w)
    if K2 != K:
        raise ValueError(f"w has shape {(M, K2)} but x has shape {(N, K)}: w must be (units, {K})")
    if b is not None:
        _check_array(dev, "b", b, (M,))
    _check_dims(N=N, K=K, M=M)
    with dev.scope():
        y = _output(dev, "out", out, (N, M), False)
        _check_distinct("out", y, x=x, w=w, b=b)
        if N == 0 or M == 0:
            return y
        plan = _plan.plan_gemm(N, M, K, device_model_of(dev), blocks_per_sm(dev), kernel="dense_fwd",
                               aligned=_aligned((x, w), (K,)), tile=tile)
        args = (x, w, w if b is None else b, y, np.int32(N), np.int32(K), np.int32(M),
                np.int32(b is not None), np.int32(relu))
        _launch_gemm(dev, "dense_fwd", plan, args, (N, M))
    return y


def dense_backward(ctx, dy, x, w, y=None, *, need_dx=True, need_dw=True, need_db=True,
                   dx=None, dw=None, db=None, accumulate_dx=False, accumulate_dw=False,
                   accumulate_db=False, tile=None):
    """Gradients of ``y = act(x · wᵀ + b)``: ``dX = dZ·W``, ``dW = dZᵀ·X``, ``db = Σ_n dZ``.

    ``dZ = dy ⊙ (y > 0)`` when ``y`` (the ReLU output) is given, else ``dZ = dy``; the mask is
    applied while the kernels load ``dy``. Each gradient is computed only when needed; ``db`` comes
    out of the ``dW`` kernel when both are needed, and dX and dW run as one grouped launch when the
    planner estimates that faster.

    Parameters
    ----------
    ctx : Device or Context
    dy : array, (N, M) float32
    x : array, (N, K) float32
    w : array, (M, K) float32
    y : array, (N, M) float32, optional
        The forward output of a ReLU layer; gives the mask.
    need_dx, need_dw, need_db : bool
        Which gradients to compute.
    dx, dw, db : arrays, optional
        Output buffers ((N, K), (M, K), (M,)); allocated when not given. Must not overlap inputs.
    accumulate_dx, accumulate_dw, accumulate_db : bool
        Add into the given buffer instead of overwriting it (``grad_req='add'``, tied parameters).
    tile : None, str or (str, int), optional
        Force a tile configuration for the GEMMs (see :func:`gemm_plan.plan_gemm`).

    Returns
    -------
    (dx, dw, db)
        Each the gradient array, or None when not needed.
    """
    dev = _kernel_device(ctx, dy)
    N, M_ = _check_matrix(dev, "dy", dy)
    N2, K = _check_matrix(dev, "x", x)
    M, K2 = _check_matrix(dev, "w", w)
    if N2 != N or M != M_ or K2 != K:
        raise ValueError(f"inconsistent shapes: dy {(N, M_)}, x {(N2, K)}, w {(M, K2)}; "
                         f"expected dy (N, M), x (N, K), w (M, K)")
    if y is not None:
        _check_array(dev, "y", y, (N, M))
    _check_dims(N=N, K=K, M=M)
    inputs = {"dy": dy, "x": x, "w": w, "y": y}
    has_mask = np.int32(y is not None)
    ymask = dy if y is None else y
    with dev.scope():
        gx = gw = gb = None
        if need_dx:
            gx = _output(dev, "dx", dx, (N, K), accumulate_dx)
            _check_distinct("dx", gx, **inputs)
        if need_dw:
            gw = _output(dev, "dw", dw, (M, K), accumulate_dw)
            _check_distinct("dw", gw, **inputs)
        if need_db:
            gb = _output(dev, "db", db, (M,), accumulate_db)
            _check_distinct("db", gb, **inputs)
            if gw is not None:
                _check_distinct("db", gb, dw=gw)

        run_dx = gx is not None and N > 0 and K > 0
        run_dw = gw is not None and M > 0 and K > 0
        fused_db = gb is not None and gw is not None and K > 0
        if run_dx or run_dw:
            aligned = _aligned((dy, y, x if run_dw else None, w if run_dx else None), (M, K))
            plan = _plan.plan_backward(N, K, M, device_model_of(dev), blocks_per_sm(dev),
                                       need_dx=run_dx, need_dw=run_dw, aligned=aligned, tile=tile)
            dx_args = (dy, ymask, w, gx, np.int32(N), np.int32(K), np.int32(M), has_mask,
                       np.int32(bool(accumulate_dx)))
            dw_args = (dy, ymask, x, gw, gb if fused_db else gw, np.int32(N), np.int32(K),
                       np.int32(M), has_mask, np.int32(bool(accumulate_dw)), np.int32(fused_db),
                       np.int32(bool(accumulate_db)))
            if plan.grouped:
                _launch_grouped(dev, plan, dy, ymask, w, x, gx, gw, gb if fused_db else gw,
                                (N, K, M), has_mask, accumulate_dx, accumulate_dw, fused_db,
                                accumulate_db)
            else:
                if run_dx:
                    _launch_gemm(dev, "dense_bwd_dx", plan.dx, dx_args, (N, K))
                if run_dw:
                    _launch_gemm(dev, "dense_bwd_dw", plan.dw, dw_args, (M, K),
                                 dsum_rows=M if fused_db else 0)
        if gb is not None and not fused_db and M > 0:
            _launch(dev, "dense_bwd_db", (_cdiv(M, 32), 1, 1), 256,
                    (dy, ymask, gb, np.int32(N), np.int32(M), has_mask,
                     np.int32(bool(accumulate_db))), 0)
    return gx, gw, gb



def _launch_grouped(dev, plan, dy, ymask, w, x, gx, gw, gdb, dims, has_mask, accumulate_dx,
                    accumulate_dw, fused_db, accumulate_db):
    """dX and dW in one launch: one workspace holds both GEMMs' partials, then both counter sets."""
    N, K, M = dims
    px, pw = plan.dx, plan.dw
    fx, cx = _split_sizes(px, (N, K), 0)
    fw, cw = _split_sizes(pw, (M, K), M if fused_db else 0)
    # Keep the dW part 16-byte aligned (float4 partials) by rounding the dX part up to 4 floats.
    fx4 = _cdiv(fx, 4) * 4
    ws, cnt = _workspace(dev, fx4 + max(fw, 1), cx + max(cw, 1))
    cfg = px.config
    blocks = px.blocks + pw.blocks
    args = (dy, ymask, w, x, gx, gw, gdb, np.int32(N), np.int32(K), np.int32(M), has_mask,
            np.int32(bool(accumulate_dx)), np.int32(bool(accumulate_dw)), np.int32(fused_db),
            np.int32(bool(accumulate_db)), np.int32(px.grid[0]), np.int32(px.grid[1]),
            np.int32(px.splits), np.int32(pw.grid[0]), np.int32(pw.grid[1]), np.int32(pw.splits),
            ws[:max(fx4, 1)], cnt[:max(cx, 1)], ws[fx4:fx4 + max(fw, 1)], cnt[cx:cx + max(cw, 1)])
    _launch(dev, f"dense_bwd_grouped_{cfg.name}", (blocks, 1, 1), cfg.threads, args,
            cfg.dynamic_smem())


# ---------------------------------------------------------------------------------------------------
# Plain GEMM: C = op(A)·op(B), no bias, on the dense kernels


def gemm(ctx, a, b, transpose_a=False, transpose_b=False, out=None, *, tile=None):
    """``C = op(A) · op(B)`` (``op`` transposes when its flag is set) on the dense GEMM kernels.

    No cuBLAS: each layout maps onto one of the three dense kernels, whose operand layouts are
    ``x·wᵀ`` (forward), ``dy·w`` (dX) and ``dyᵀ·x`` (dW), all with the mask and bias switched off:

    ======  ===================  ===========================================
    flags   stored A, B          kernel
    ======  ===================  ===========================================
    N, N    (n, k), (k, m)       ``dense_bwd_dx`` with dy = A, w = B
    N, T    (n, k), (m, k)       ``dense_fwd`` with x = A, w = B
    T, N    (k, n), (k, m)       ``dense_bwd_dw`` with dy = A, x = B
    T, T    (k, n), (m, k)       ``Bᵀ`` copied to (k, m), then as T, N
    ======  ===================  ===========================================

    Parameters
    ----------
    ctx : Device or Context
        A device with custom kernels, or a ``gpu`` context.
    a, b : arrays, 2-D float32, C-contiguous
        The stored operands (before ``op``).
    transpose_a, transpose_b : bool
    out : array, (n, m) float32, optional
        Written in full; must not overlap the inputs.
    tile : None, str or (str, int), optional
        Force a tile configuration (see :func:`gemm_plan.plan_gemm`).

    Returns
    -------
    array, (n, m)
    """
    dev = _kernel_device(ctx, a)
    ra, ca = _check_matrix(dev, "a", a)
    rb, cb = _check_matrix(dev, "b", b)
    n, k = (ca, ra) if transpose_a else (ra, ca)
    kb, m = (cb, rb) if transpose_b else (rb, cb)
    if kb != k:
        raise ValueError(f"gemm: op(a) is {(n, k)} and op(b) is {(kb, m)} (a {(ra, ca)}, b {(rb, cb)}, "
                         f"transpose_a={transpose_a}, transpose_b={transpose_b}): the inner sizes "
                         f"{k} and {kb} differ")
    _check_dims(n=n, k=k, m=m)
    with dev.scope():
        c = _output(dev, "out", out, (n, m), False)
        _check_distinct("out", c, a=a, b=b)
        if n == 0 or m == 0:
            return c
        if k == 0:  # an empty sum; the kernels' loops would not run, so write the zeros here
            refuse_host_work_in_capture("the zero fill of an empty matrix product")
            c[...] = 0
            return c
        if transpose_a and transpose_b:
            # The one layout no kernel reads: make Bᵀ (k, m) contiguous (a CuPy copy kernel on a GPU,
            # which a CUDA graph can capture) and run it as T, N.
            refuse_host_work_in_capture("the copy of a transposed second operand (both operands transposed)")
            b = dev.xp.ascontiguousarray(b.T)
            transpose_b = False
        model, occupancy = device_model_of(dev), blocks_per_sm(dev)
        if not transpose_a and not transpose_b:
            plan = _plan.plan_gemm(n, m, k, model, occupancy, kernel="dense_bwd_dx",
                                   aligned=_aligned((a, b), (k, m)), tile=tile)
            args = (a, a, b, c, np.int32(n), np.int32(m), np.int32(k), np.int32(0), np.int32(0))
            _launch_gemm(dev, "dense_bwd_dx", plan, args, (n, m))
        elif not transpose_a:
            plan = _plan.plan_gemm(n, m, k, model, occupancy, kernel="dense_fwd",
                                   aligned=_aligned((a, b), (k,)), tile=tile)
            args = (a, b, b, c, np.int32(n), np.int32(k), np.int32(m), np.int32(0), np.int32(0))
            _launch_gemm(dev, "dense_fwd", plan, args, (n, m))
        else:
            plan = _plan.plan_gemm(n, m, k, model, occupancy, kernel="dense_bwd_dw",
                                   aligned=_aligned((a, b), (n, m)), tile=tile)
            args = (a, a, b, c, c, np.int32(k), np.int32(m), np.int32(n), np.int32(0), np.int32(0),
                    np.int32(0), np.int32(0))
            _launch_gemm(dev, "dense_bwd_dw", plan, args, (n, m))
    return c
