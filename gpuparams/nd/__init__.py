"""The ``nd`` namespace: creating arrays and the functional form of every operator (MXNet's ``mx.nd``).

The operators come from the registry (:data:`gpuparams.ops.REGISTRY`); this module adds the
functions that create arrays.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..context import Context, current_context
from ..ndarray import NDArray, from_data, normalize_dtype, from_backend
from . import random
from .io import load, save

from ..ops import public_ops as _public_ops

# The creation functions defined here; every registered public operator is added at the end.
__all__ = ["NDArray", "array", "zeros", "ones", "full", "arange", "zeros_like", "ones_like", "empty",
           "random", "waitall", "save", "load"]


def array(source_array, ctx=None, dtype=None):
    """Create an array from a list, NumPy array, scalar or NDArray (always copies).

    As in MXNet 1.x, the dtype defaults to the source's dtype when the source is an NDArray and to
    float32 for everything else (NumPy arrays included); pass ``dtype`` to keep another one.
    """
    if dtype is None and not isinstance(source_array, NDArray):
        kind = getattr(getattr(source_array, "dtype", None), "kind", "f")
        if kind in "cOSUVMm":  # complex, objects, strings, dates: no sensible float32 value
            normalize_dtype(source_array.dtype, what="source dtype")
        dtype = "float32"
    return from_data(source_array, ctx=ctx, dtype=dtype)


def _filled(shape, ctx, dtype, make):
    ctx = Context(ctx) if ctx is not None else current_context()
    dtype = normalize_dtype("float32" if dtype is None else dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any((not isinstance(n, (int, np.integer))) or n < 0 for n in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape}")
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        return from_backend(make(xp, shape, dtype), ctx)


def zeros(shape, ctx=None, dtype=None):
    """An array of zeros (float32 by default) on ``ctx`` (default: the current context)."""
    return _filled(shape, ctx, dtype, lambda xp, s, d: xp.zeros(s, dtype=d))


def empty(shape, ctx=None, dtype=None):
    """An array whose contents are undefined until written (zero-filled here for safety)."""
    return zeros(shape, ctx, dtype)


def ones(shape, ctx=None, dtype=None):
    """An array of ones."""
    return _filled(shape, ctx, dtype, lambda xp, s, d: xp.ones(s, dtype=d))


def full(shape, val, ctx=None, dtype=None):
    """An array filled with ``val``."""
    return _filled(shape, ctx, dtype, lambda xp, s, d: xp.full(s, val, dtype=d))


def arange(start, stop=None, step=1.0, repeat=1, ctx=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (float32 by default, as in MXNet)."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if repeat != 1:
        values = np.repeat(values, repeat)
    return from_data(values, ctx=ctx, dtype="float32" if dtype is None else dtype)


def zeros_like(data):
    """Zeros with the shape, dtype and context of ``data``."""
    return zeros(data.shape, ctx=data.context, dtype=data.dtype)


def ones_like(data):
    """Ones with the shape, dtype and context of ``data``."""
    return ones(data.shape, ctx=data.context, dtype=data.dtype)


def waitall():
    """Wait for all pending device work (a no-op on the CPU; synchronizes CuPy devices)."""
    if backend.gpu_count() and not backend.emulation_enabled():
        cupy = backend.cupy_module(Context("gpu", 0))
        for i in range(backend.gpu_count()):
            with cupy.cuda.Device(i):
                cupy.cuda.Device(i).synchronize()


# The operators: one name per registered public operator and alias (gpuparams.ops.REGISTRY), so a
# newly declared operator is ``nd.<name>`` with nothing to add here.
globals().update(_public_ops())
__all__ += sorted(_public_ops())

# MXNet's ``F.np`` / ``F.npx`` inside ``hybrid_forward(self, F, x)`` (F is this module, as in MXNet):
# the NumPy interface, imported on first use.
from .._lazy import lazy_attributes as _lazy_attributes  # noqa: E402

__getattr__, __dir__ = _lazy_attributes(globals(), {"np": ("gpuparams.np", None),
                                                    "npx": ("gpuparams.npx", None)})
