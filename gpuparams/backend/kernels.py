"""Our CUDA kernels: find ``kernels/*.cu``, compile them per device, and launch them.

The same launch code serves a real GPU and the emulated ``gpu(0)``: on a real GPU the sources are
compiled with ``cupy.RawModule`` (NVRTC) and the arrays are CuPy arrays; on the emulated ``gpu(0)``
(:func:`gpuparams.backend.is_emulated`) they are compiled with :class:`gpuparams.emulator.Module`
(g++) and the arrays are NumPy arrays. Either way the kernels receive exactly the same arguments:
arrays plus ``np.int32`` / ``np.float32`` scalars.

Public launch wrappers (they take and return raw backend arrays, validate shapes and dtypes, pick the
tile configuration by shape and allocate outputs that were not given):

- :func:`dense_forward` — ``y = act(x·Wᵀ + b)``
- :func:`dense_backward` — ``dX``, ``dW``, ``db`` with the ReLU mask fused into the loads
- :func:`relu_forward`, :func:`relu_backward`
- :func:`sgd_update`, :func:`adam_update` — in place

Sources are looked up in ``$GPUPARAMS_KERNEL_DIR`` if set, else in the top-level ``kernels/`` of a
source checkout, else in the copy shipped inside the package (``gpuparams/_kernels/``).
"""
from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import array_module, device_scope, is_emulated
from ..errors import KernelCompileError

__all__ = [
    "KernelCompileError", "kernel_dir", "kernel_source", "get_module", "get_function", "launch",
    "emulation_order", "clear_cache",
    "TileConfig", "GemmPlan", "TILE_CONFIGS", "plan_gemm", "sm_count",
    "dense_forward", "dense_backward", "relu_forward", "relu_backward", "sgd_update", "adam_update",
]

KERNEL_DIR_ENV = "GPUPARAMS_KERNEL_DIR"
#: Compiler options for every kernel file, identical for NVRTC and the emulator's g++ build.
COMPILE_OPTIONS = ()
#: Dynamic shared memory above this needs the per-function opt-in (as on every GPU since Volta).
_DEFAULT_SMEM_LIMIT = 48 * 1024
#: SM count assumed by the tile choice on the emulated gpu(0): an H100 SXM, so that the emulator
#: exercises the same configurations the real target gets.
EMULATED_SM_COUNT = 132
_INT32_MAX = 2**31 - 1
_GRID_YZ_MAX = 65535
_ELEMENTWISE_THREADS = 256
#: Largest element count one elementwise launch handles; bigger arrays are processed in chunks so
#: the kernels' ``int n`` never overflows. A multiple of 4 keeps every chunk 16-byte aligned.
_ELEMENTWISE_CHUNK = 2**30


# ---------------------------------------------------------------------------------------------------
# Finding and compiling sources

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../gpuparams


def kernel_dir():
    """Return the directory holding the ``*.cu`` kernel sources.

    Order: ``$GPUPARAMS_KERNEL_DIR``; the top-level ``kernels/`` beside the ``gpuparams`` package in a
    source checkout (recognised by the ``pyproject.toml`` next to it, so a stray ``kernels/`` folder
    in ``site-packages`` is never picked up); the copy shipped in the package, ``gpuparams/_kernels/``.

    Raises
    ------
    FileNotFoundError
        If none of them exists.
    """
    env = os.environ.get(KERNEL_DIR_ENV, "").strip()
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"{KERNEL_DIR_ENV}={env!r} is not a directory")
        return path
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "kernels").is_dir():
        return checkout / "kernels"
    shipped = _PACKAGE_DIR / "_kernels"
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(
        f"no kernel sources found: looked for {checkout / 'kernels'} (source checkout) and {shipped} "
        f"(installed package); set {KERNEL_DIR_ENV} to the directory holding the .cu files")


def kernel_source(filename):
    """Return ``(path, text)`` of kernel file ``filename`` (e.g. ``'dense.cu'``)."""
    path = kernel_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"kernel source {filename!r} not found in {path.parent}")
    return path, path.read_text(encoding="utf-8")


_lock = threading.RLock()
_modules = {}     # (filename, device key) -> compiled module
_functions = {}   # (filename, device key, name) -> kernel function


def _device_key(ctx):
    if is_emulated(ctx):
        return ("emulator", 0)
    return ("cuda", ctx.device_id)


def _device_label(ctx):
    return f"emulated {ctx}" if is_emulated(ctx) else str(ctx)


def _compile(ctx, filename):
    path, code = kernel_source(filename)
    if is_emulated(ctx):
        from .. import emulator
        try:
            return emulator.Module(path=str(path), options=COMPILE_OPTIONS)
        except Exception as exc:  # g++ errors, or the emulator's own source checks
            raise KernelCompileError(filename, getattr(exc, "log", None) or str(exc),
                                     _device_label(ctx), source=f"kernels/{filename}") from exc
    cupy = array_module(ctx)
    from cupy.cuda import compiler
    with cupy.cuda.Device(ctx.device_id):
        module = cupy.RawModule(code=code, options=COMPILE_OPTIONS)
        try:
            # RawModule compiles lazily; compile now so errors surface here, with the log.
            if hasattr(module, "compile"):
                module.compile()
        except compiler.CompileException as exc:
            raise KernelCompileError(filename, str(exc), _device_label(ctx),
                                     source=f"kernels/{filename}") from exc
    return module


def get_module(ctx, filename):
    """Return the compiled module of ``filename`` for ``ctx``'s device, compiling it on first use.

    Raises
    ------
    KernelCompileError
        If the source does not compile (the error carries the compiler log).
    """
    key = (filename, _device_key(ctx))
    module = _modules.get(key)
    if module is None:
        with _lock:
            module = _modules.get(key)
            if module is None:
                module = _modules[key] = _compile(ctx, filename)
    return module


def get_function(ctx, filename, name):
    """Return kernel ``name`` from ``filename`` compiled for ``ctx`` (cached per file and device)."""
    key = (filename, _device_key(ctx), name)
    fn = _functions.get(key)
    if fn is None:
        module = get_module(ctx, filename)
        with _lock:
            fn = _functions.get(key)
            if fn is None:
                if is_emulated(ctx):
                    fn = module.get_function(name)
                else:
                    from cupy.cuda import compiler
                    with array_module(ctx).cuda.Device(ctx.device_id):
                        try:
                            fn = module.get_function(name)
                        except compiler.CompileException as exc:
                            raise KernelCompileError(filename, str(exc), _device_label(ctx),
                                     source=f"kernels/{filename}") from exc
                _functions[key] = fn
    return fn


def clear_cache():
    """Forget every compiled module (the next launch recompiles; the emulator's disk cache remains)."""
    with _lock:
        _modules.clear()
        _functions.clear()
        _workspaces.clear()
        _sm_counts.clear()


_order = threading.local()


@contextlib.contextmanager
def emulation_order(order):
    """Run emulated launches in this thread with the emulator's thread ``order``.

    ``'forward'`` (default), ``'reverse'`` or ``'random'``: running the threads of a block in another
    order exposes a missing barrier. Has no effect on a real GPU.
    """
    if order not in ("forward", "reverse", "random"):
        raise ValueError(f"order must be 'forward', 'reverse' or 'random', got {order!r}")
    previous = getattr(_order, "value", "forward")
    _order.value = order
    try:
        yield
    finally:
        _order.value = previous


def launch(ctx, filename, name, grid, block, args, shared_mem=0):
    """Launch kernel ``name`` of ``filename`` on ``ctx`` with a tuple of ``args``.

    ``shared_mem`` is the dynamic shared memory in bytes; above 48 KB the function's
    ``max_dynamic_shared_size_bytes`` is raised first, as the hardware requires.
    """
    fn = get_function(ctx, filename, name)
    if shared_mem > _DEFAULT_SMEM_LIMIT and getattr(fn, "max_dynamic_shared_size_bytes", 0) < shared_mem:
        fn.max_dynamic_shared_size_bytes = shared_mem
    grid = tuple(int(g) for g in grid)
    block = tuple(int(b) for b in block)
    if is_emulated(ctx):
        fn(grid, block, args, shared_mem=shared_mem, order=getattr(_order, "value", "forward"))
    else:
        fn(grid, block, args, shared_mem=shared_mem)


_sm_counts = {}


def sm_count(ctx):
    """Number of SMs of ``ctx``'s GPU (:data:`EMULATED_SM_COUNT` for the emulated gpu(0))."""
    if is_emulated(ctx):
        return EMULATED_SM_COUNT
    count = _sm_counts.get(ctx.device_id)
    if count is None:
        cupy = array_module(ctx)
        count = int(cupy.cuda.Device(ctx.device_id).attributes["MultiProcessorCount"])
        _sm_counts[ctx.device_id] = count
    return count


# ---------------------------------------------------------------------------------------------------
# Argument checks


def _ptr(a):
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def _check_array(ctx, name, a, shape=None, ndim=None):
    """Check that ``a`` is a C-contiguous float32 array on ``ctx`` (of ``shape`` / ``ndim`` if given)."""
    xp = array_module(ctx)
    if not isinstance(a, xp.ndarray):
        expected = "numpy.ndarray (emulated gpu)" if is_emulated(ctx) else "cupy.ndarray"
        raise TypeError(f"{name} must be a {expected} on {ctx}, got {type(a).__name__}")
    if not is_emulated(ctx) and a.device.id != ctx.device_id:
        raise ValueError(f"{name} lives on gpu({a.device.id}), not on {ctx}: copy it there first")
    if a.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {a.dtype} with shape {tuple(a.shape)}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {tuple(shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} with shape {tuple(a.shape)} must be C-contiguous "
                         f"(use ascontiguousarray)")
    return a


def _check_matrix(ctx, name, a):
    """Check a 2-D float32 C-contiguous array on ``ctx`` and return its shape."""
    return _check_array(ctx, name, a, ndim=2).shape


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


def _alloc(ctx, shape):
    return array_module(ctx).empty(shape, dtype=np.float32)


def _output(ctx, name, given, shape, accumulate):
    if given is None:
        if accumulate:
            raise ValueError(f"accumulate_{name}=True needs the existing {name} array to add into")
        return _alloc(ctx, shape)
    return _check_array(ctx, name, given, shape)


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


def _cdiv(a, b):
    return -(-a // b)


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


def _workspace_key(ctx):
    if is_emulated(ctx):
        return ("emulator", threading.get_ident())
    cupy = array_module(ctx)
    return ("cuda", ctx.device_id, cupy.cuda.get_current_stream().ptr)


def _workspace(ctx, floats, counters):
    """Return ``(ws, cnt)``: float32 scratch of at least ``floats`` and zeroed int32 counters."""
    key = _workspace_key(ctx)
    xp = array_module(ctx)
    ws, cnt = _workspaces.get(key, (None, None))
    if ws is None or ws.size < max(floats, 1):
        ws = xp.empty(max(floats, 1, 0 if ws is None else ws.size), dtype=np.float32)
    if cnt is None or cnt.size < max(counters, 1):
        cnt = xp.zeros(max(counters, 1, 0 if cnt is None else cnt.size), dtype=np.int32)
    _workspaces[key] = (ws, cnt)
    return ws, cnt


def _launch_gemm(ctx, kernel, plan, args, out_shape, dsum_rows=0):
    """Launch dense GEMM ``kernel`` (``'dense_fwd'`` ...) per ``plan``, appending the workspace args.

    With split-K the workspace holds one ``out_shape`` partial per slice, then ``dsum_rows`` floats
    per slice for the fused row sums (db).
    """
    floats = counters = 0
    if plan.splits > 1:
        floats = plan.splits * (out_shape[0] * out_shape[1] + dsum_rows)
        counters = plan.grid[0] * plan.grid[1]
    ws, cnt = _workspace(ctx, floats, counters)
    try:
        launch(ctx, "dense.cu", f"{kernel}_{plan.config.name}", plan.grid,
               (plan.config.threads, 1, 1), tuple(args) + (ws, cnt))
    except BaseException:
        # A launch that died half way may leave non-zero counters: start from fresh ones next time.
        _workspaces.pop(_workspace_key(ctx), None)
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
    ctx : Context
        A ``gpu`` context (real, or the emulated ``gpu(0)``).
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
    N, K = _check_matrix(ctx, "x", x)
    M, K2 = _check_matrix(ctx, "w", w)
    if K2 != K:
        raise ValueError(f"w has shape {(M, K2)} but x has shape {(N, K)}: w must be (units, {K})")
    if b is not None:
        _check_array(ctx, "b", b, (M,))
    _check_dims(N=N, K=K, M=M)
    with device_scope(ctx):
        y = _output(ctx, "out", out, (N, M), False)
        _check_distinct("out", y, x=x, w=w, b=b)
        if N == 0 or M == 0:
            return y
        plan = plan_gemm(N, M, K, sm_count(ctx), tile)
        args = (x, w, w if b is None else b, y, np.int32(N), np.int32(K), np.int32(M),
                np.int32(b is not None), np.int32(relu))
        _launch_gemm(ctx, "dense_fwd", plan, args, (N, M))
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
    ctx : Context
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
    N, M_ = _check_matrix(ctx, "dy", dy)
    N2, K = _check_matrix(ctx, "x", x)
    M, K2 = _check_matrix(ctx, "w", w)
    if N2 != N or M != M_ or K2 != K:
        raise ValueError(f"inconsistent shapes: dy {(N, M_)}, x {(N2, K)}, w {(M, K2)}; "
                         f"expected dy (N, M), x (N, K), w (M, K)")
    if y is not None:
        _check_array(ctx, "y", y, (N, M))
    _check_dims(N=N, K=K, M=M)
    inputs = {"dy": dy, "x": x, "w": w, "y": y}
    has_mask = np.int32(y is not None)
    ymask = dy if y is None else y
    sms = sm_count(ctx)
    with device_scope(ctx):
        gx = gw = gb = None
        if need_dx:
            gx = _output(ctx, "dx", dx, (N, K), accumulate_dx)
            _check_distinct("dx", gx, **inputs)
        if need_dw:
            gw = _output(ctx, "dw", dw, (M, K), accumulate_dw)
            _check_distinct("dw", gw, **inputs)
        if need_db:
            gb = _output(ctx, "db", db, (M,), accumulate_db)
            _check_distinct("db", gb, **inputs)
            if gw is not None:
                _check_distinct("db", gb, dw=gw)

        if gx is not None and N > 0 and K > 0:
            plan = plan_gemm(N, K, M, sms, tile)
            args = (dy, ymask, w, gx, np.int32(N), np.int32(K), np.int32(M), has_mask,
                    np.int32(bool(accumulate_dx)))
            _launch_gemm(ctx, "dense_bwd_dx", plan, args, (N, K))
        fused_db = gb is not None and gw is not None and K > 0
        if gw is not None and M > 0 and K > 0:
            plan = plan_gemm(M, K, N, sms, tile)
            args = (dy, ymask, x, gw, gb if fused_db else gw, np.int32(N), np.int32(K), np.int32(M),
                    has_mask, np.int32(bool(accumulate_dw)), np.int32(fused_db),
                    np.int32(bool(accumulate_db)))
            _launch_gemm(ctx, "dense_bwd_dw", plan, args, (M, K), dsum_rows=M if fused_db else 0)
        if gb is not None and not fused_db and M > 0:
            launch(ctx, "dense.cu", "dense_bwd_db", (_cdiv(M, 32), 1, 1), (256, 1, 1),
                   (dy, ymask, gb, np.int32(N), np.int32(M), has_mask, np.int32(bool(accumulate_db))))
    return gx, gw, gb


# ---------------------------------------------------------------------------------------------------
# Elementwise kernels


def _elementwise_grid(ctx, n):
    # Enough blocks for 4 elements per thread, capped at a few waves (the loops are grid-stride).
    return (max(1, min(_cdiv(n, 4 * _ELEMENTWISE_THREADS), 8 * sm_count(ctx))), 1, 1)


def _chunks(n):
    """``(start, stop)`` ranges of at most :data:`_ELEMENTWISE_CHUNK` elements covering ``n``."""
    return [(s, min(n, s + _ELEMENTWISE_CHUNK)) for s in range(0, n, _ELEMENTWISE_CHUNK)]


def _check_same(ctx, name, a, like):
    return _check_array(ctx, name, a, like.shape)


def _flat(a):
    return a.reshape(-1)


def relu_forward(ctx, x, out=None):
    """``max(x, 0)`` elementwise; ``out`` may be ``x`` itself (in place).

    Parameters
    ----------
    ctx : Context
    x : array, float32, C-contiguous, any shape
    out : array like ``x``, optional

    Returns
    -------
    array like ``x``
    """
    _check_array(ctx, "x", x)
    with device_scope(ctx):
        y = _alloc(ctx, x.shape) if out is None else _check_same(ctx, "out", out, x)
        xf, yf = _flat(x), _flat(y)
        for s, e in _chunks(x.size):
            launch(ctx, "elementwise.cu", "relu_fwd", _elementwise_grid(ctx, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1), (xf[s:e], yf[s:e], np.int32(e - s)))
    return y


def relu_backward(ctx, dy, y, out=None):
    """``dy ⊙ (y > 0)`` elementwise, ``y`` being the ReLU's output; ``out`` may be ``dy``.

    Returns
    -------
    array like ``dy``
    """
    _check_array(ctx, "dy", dy)
    _check_same(ctx, "y", y, dy)
    with device_scope(ctx):
        dx = _alloc(ctx, dy.shape) if out is None else _check_same(ctx, "out", out, dy)
        gf, yf, df = _flat(dy), _flat(y), _flat(dx)
        for s, e in _chunks(dy.size):
            launch(ctx, "elementwise.cu", "relu_bwd", _elementwise_grid(ctx, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1), (gf[s:e], yf[s:e], df[s:e], np.int32(e - s)))
    return dx


def _clip_value(clip_gradient):
    # The kernels treat a negative clip as "no clipping".
    if clip_gradient is None:
        return np.float32(-1.0)
    if clip_gradient < 0:
        raise ValueError(f"clip_gradient must be >= 0 or None, got {clip_gradient}")
    return np.float32(clip_gradient)


def sgd_update(ctx, weight, grad, mom=None, *, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
               clip_gradient=None):
    """One SGD step on ``weight`` in place (and on ``mom`` when given), MXNet's formula.

    ``g = clip(rescale_grad*grad)``; without ``mom``: ``w -= lr*(g + wd*w)``; with ``mom``:
    ``mom = momentum*mom - lr*(g + wd*w); w += mom``.

    Parameters
    ----------
    ctx : Context
    weight, grad : arrays of one shape, float32, C-contiguous
    mom : array like ``weight``, optional
        The momentum state; required when ``momentum != 0``.
    lr, momentum, wd, rescale_grad : float
    clip_gradient : float or None
        Clip ``rescale_grad*grad`` to ``[-clip, clip]``; None for no clipping.
    """
    _check_array(ctx, "weight", weight)
    _check_same(ctx, "grad", grad, weight)
    if mom is None and momentum != 0:
        raise ValueError(f"momentum={momentum} needs the momentum state array mom")
    if mom is not None:
        _check_same(ctx, "mom", mom, weight)
    clip = _clip_value(clip_gradient)
    wf, gf = _flat(weight), _flat(grad)
    mf = None if mom is None else _flat(mom)
    with device_scope(ctx):
        for s, e in _chunks(weight.size):
            grid = _elementwise_grid(ctx, e - s)
            if mf is None:
                launch(ctx, "optimizer.cu", "sgd_update", grid, (_ELEMENTWISE_THREADS, 1, 1),
                       (wf[s:e], gf[s:e], np.int32(e - s), np.float32(lr), np.float32(wd),
                        np.float32(rescale_grad), clip))
            else:
                launch(ctx, "optimizer.cu", "sgd_mom_update", grid, (_ELEMENTWISE_THREADS, 1, 1),
                       (wf[s:e], gf[s:e], mf[s:e], np.int32(e - s), np.float32(lr),
                        np.float32(momentum), np.float32(wd), np.float32(rescale_grad), clip))
    return weight


def adam_update(ctx, weight, grad, mean, var, *, lr_t, beta1, beta2, epsilon, wd=0.0,
                rescale_grad=1.0, clip_gradient=None):
    """One Adam step on ``weight``, ``mean`` and ``var`` in place, MXNet's formula.

    ``g = clip(rescale_grad*grad + wd*w); m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g²;
    w -= lr_t*m/(sqrt(v) + epsilon)``, where the caller passes the bias-corrected
    ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)``.

    Parameters
    ----------
    ctx : Context
    weight, grad, mean, var : arrays of one shape, float32, C-contiguous
    lr_t, beta1, beta2, epsilon, wd, rescale_grad : float
    clip_gradient : float or None
    """
    _check_array(ctx, "weight", weight)
    _check_same(ctx, "grad", grad, weight)
    _check_same(ctx, "mean", mean, weight)
    _check_same(ctx, "var", var, weight)
    clip = _clip_value(clip_gradient)
    wf, gf, mf, vf = _flat(weight), _flat(grad), _flat(mean), _flat(var)
    with device_scope(ctx):
        for s, e in _chunks(weight.size):
            launch(ctx, "optimizer.cu", "adam_update", _elementwise_grid(ctx, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1),
                   (wf[s:e], gf[s:e], mf[s:e], vf[s:e], np.int32(e - s), np.float32(lr_t),
                    np.float32(beta1), np.float32(1.0 - beta1), np.float32(beta2),
                    np.float32(1.0 - beta2), np.float32(epsilon), np.float32(wd),
                    np.float32(rescale_grad), clip))
    return weight
