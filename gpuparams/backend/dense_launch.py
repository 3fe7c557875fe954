"""The dense-layer launchers and the GEMM planner (``kernels/dense.cu``).

Public launch wrappers (they take and return raw backend arrays, validate shapes and dtypes, pick the
tile configuration by shape and allocate outputs that were not given):

- :func:`dense_forward` — ``y = act(x·Wᵀ + b)``
- :func:`dense_backward` — ``dX``, ``dW``, ``db`` with the ReLU mask fused into the loads

Both take a :class:`~gpuparams.backend.devices.Device` or a ``gpu`` context; a context is resolved
with the input data (:func:`~gpuparams.backend.devices.device_for`), so arrays made on the emulated
``gpu(0)`` keep running in the emulator after the emulation switch flips.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import loader as _loader
from ._arrays import alloc as _alloc
from ._arrays import cdiv as _cdiv
from ._arrays import check_array as _check_array
from ._arrays import kernel_device as _kernel_device
from ._arrays import ptr as _ptr
from .devices import as_device

__all__ = ["TileConfig", "GemmPlan", "TILE_CONFIGS", "MIN_KTILES_PER_SPLIT", "MAX_SPLITS", "plan_gemm",
           "sm_count", "dense_forward", "dense_backward", "clear_workspaces"]

_INT32_MAX = 2**31 - 1
_GRID_YZ_MAX = 65535


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


# ---------------------------------------------------------------------------------------------------
# GEMM tile configurations and the shape rule


@dataclass(frozen=True)
class TileConfig:
    """One compiled tile configuration of the dense kernels (must match ``kernels/dense.cu``)."""

    name: str
    bm: int       # output rows per block
    bn: int       # output columns per block
    bk: int       # reduction depth per shared-memory stage
    threads: int  # threads per block
    split_k: bool  # whether the kernels were compiled with the split-K path


TILE_CONFIGS = {
    # Big batches: 8×8 outputs per thread, at the 128-register limit of two blocks per SM, which is
    # why it has no split-K path (it is only chosen when it already fills the GPU).
    "l": TileConfig("l", 128, 128, 8, 256, False),
    # Small batches, usually with split-K: 4×4 outputs per thread.
    "s": TileConfig("s", 64, 64, 16, 256, True),
}
#: A split-K slice reduces at least this many BK-tiles, so its partial's round trip through the
#: workspace stays small next to the multiply.
MIN_KTILES_PER_SPLIT = 4
MAX_SPLITS = 16


@dataclass(frozen=True)
class GemmPlan:
    """How one GEMM ``C (P, Q) = Σ_r A(i, r) B(r, j)`` is launched."""

    config: TileConfig
    splits: int
    grid: tuple

    @property
    def blocks(self):
        return self.grid[0] * self.grid[1] * self.grid[2]


def plan_gemm(P, Q, R, sms, tile=None):
    """Choose the tile configuration and split-K factor for a ``P×Q`` output reduced over ``R``.

    Shape rule: the large 128×128 tile when it alone gives every SM a block; otherwise the 64×64
    tile, and when even that leaves SMs idle, split the reduction so that about two blocks per SM
    exist (each slice at least :data:`MIN_KTILES_PER_SPLIT` stages deep, at most
    :data:`MAX_SPLITS` slices). E.g. on 132 SMs, 256×1024→1024 forward: 16 large tiles → small tile,
    64 blocks → 5 splits, 320 blocks; 4096×1024→1024: 256 large tiles.

    Parameters
    ----------
    P, Q, R : int
        Output rows, output columns, reduction length.
    sms : int
        SM count of the device.
    tile : None, str or (str, int), optional
        Force a configuration (``'l'`` or ``'s'``) and optionally the split count (tests, benchmarks).
        Only ``'s'`` can split; the count is clamped to the number of BK-deep stages.

    Returns
    -------
    GemmPlan
        The configuration, the split count and the launch grid ``(ceil(P/bm), ceil(Q/bn), splits)``.
    """
    if tile is None:
        big = TILE_CONFIGS["l"]
        if _cdiv(P, big.bm) * _cdiv(Q, big.bn) >= sms:
            cfg, splits = big, 1
        else:
            cfg = TILE_CONFIGS["s"]
            tiles = _cdiv(P, cfg.bm) * _cdiv(Q, cfg.bn)
            ktiles = _cdiv(R, cfg.bk)
            splits = 1
            if tiles < sms:
                splits = min(_cdiv(2 * sms, tiles), ktiles // MIN_KTILES_PER_SPLIT, MAX_SPLITS)
    else:
        name, splits = (tile, 1) if isinstance(tile, str) else tile
        if name not in TILE_CONFIGS:
            raise ValueError(f"unknown tile configuration {name!r}: use one of {sorted(TILE_CONFIGS)}")
        cfg = TILE_CONFIGS[name]
        if int(splits) < 1:
            raise ValueError(f"split count must be >= 1, got {splits}")
        if int(splits) > 1 and not cfg.split_k:
            raise ValueError(f"tile configuration {name!r} has no split-K; use ('s', {splits})")
    # Every slice must own at least one BK-tile (an empty slice would still be counted, but wastes a
    # block); with R == 0 there is nothing to split.
    splits = max(1, min(int(splits), _cdiv(R, cfg.bk)))
    grid = (_cdiv(P, cfg.bm), _cdiv(Q, cfg.bn), splits)
    if grid[1] > _GRID_YZ_MAX:
        raise ValueError(f"{Q} output columns exceed the kernels' grid limit "
                         f"({_GRID_YZ_MAX * cfg.bn} for tile {cfg.name!r})")
    return GemmPlan(cfg, splits, grid)


# Split-K workspace: per device and stream (per thread under the emulator), so concurrent launches
# never share one. The counters are zero at rest: each tile's last slice resets its counter.
_workspaces = {}


def clear_workspaces():
    """Drop every split-K workspace (the next split launch allocates a fresh one)."""
    _workspaces.clear()


def _workspace(dev, floats, counters):
    """Return ``(ws, cnt)``: float32 scratch of at least ``floats`` and zeroed int32 counters."""
    key = dev.workspace_key()
    xp = dev.xp
    ws, cnt = _workspaces.get(key, (None, None))
    if ws is None or ws.size < max(floats, 1):
        ws = xp.empty(max(floats, 1, 0 if ws is None else ws.size), dtype=np.float32)
    if cnt is None or cnt.size < max(counters, 1):
        cnt = xp.zeros(max(counters, 1, 0 if cnt is None else cnt.size), dtype=np.int32)
    _workspaces[key] = (ws, cnt)
    return ws, cnt


def _launch_gemm(dev, kernel, plan, args, out_shape, dsum_rows=0):
    """Launch dense GEMM ``kernel`` (``'dense_fwd'`` ...) per ``plan``, appending the workspace args.

    With split-K the workspace holds one ``out_shape`` partial per slice, then ``dsum_rows`` floats
    per slice for the fused row sums (db).
    """
    floats = counters = 0
    if plan.splits > 1:
        floats = plan.splits * (out_shape[0] * out_shape[1] + dsum_rows)
        counters = plan.grid[0] * plan.grid[1]
    ws, cnt = _workspace(dev, floats, counters)
    try:
        _loader.launch(dev, "dense.cu", f"{kernel}_{plan.config.name}", plan.grid,
               (plan.config.threads, 1, 1), tuple(args) + (ws, cnt))
    except BaseException:
        # A launch that died half way may leave non-zero counters: start from fresh ones next time.
        _workspaces.pop(dev.workspace_key(), None)
        raise


# ---------------------------------------------------------------------------------------------------
# Dense layer


def _activation_flag(activation):
    if activation is None or activation == "identity":
        return 0
    if activation == "relu":
        return 1
    raise ValueError(f"activation must be None or 'relu' for the dense kernel, got {activation!r}")


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
        Force a tile configuration (see :func:`plan_gemm`); by default it is chosen by shape.

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
        plan = plan_gemm(N, M, K, dev.sm_count, tile)
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
    out of the ``dW`` kernel when both are needed.

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
        Force a tile configuration for the GEMMs (see :func:`plan_gemm`).

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
    sms = dev.sm_count
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

        if gx is not None and N > 0 and K > 0:
            plan = plan_gemm(N, K, M, sms, tile)
            args = (dy, ymask, w, gx, np.int32(N), np.int32(K), np.int32(M), has_mask,
                    np.int32(bool(accumulate_dx)))
            _launch_gemm(dev, "dense_bwd_dx", plan, args, (N, K))
        fused_db = gb is not None and gw is not None and K > 0
        if gw is not None and M > 0 and K > 0:
            plan = plan_gemm(M, K, N, sms, tile)
            args = (dy, ymask, x, gw, gb if fused_db else gw, np.int32(N), np.int32(K), np.int32(M),
                    has_mask, np.int32(bool(accumulate_dw)), np.int32(fused_db),
                    np.int32(bool(accumulate_db)))
            _launch_gemm(dev, "dense_bwd_dw", plan, args, (M, K), dsum_rows=M if fused_db else 0)
        if gb is not None and not fused_db and M > 0:
            _loader.launch(dev, "dense.cu", "dense_bwd_db", (_cdiv(M, 32), 1, 1), (256, 1, 1),
                   (dy, ymask, gb, np.int32(N), np.int32(M), has_mask, np.int32(bool(accumulate_db))))
    return gx, gw, gb
