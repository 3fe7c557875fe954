"""The ``nd`` namespace: creating arrays and the functional form of every operator (MXNet's ``mx.nd``)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..context import Context, current_context
from ..ndarray import NDArray, from_data, normalize_dtype, _new
from ..ops.activation import activation as Activation, log_softmax, relu, sigmoid, softmax, softrelu, softsign, tanh
from ..ops.dense import dense
from ..ops.elementwise import (abs, add, broadcast_add, broadcast_div, broadcast_equal, broadcast_greater,
                               broadcast_greater_equal, broadcast_lesser, broadcast_lesser_equal,
                               broadcast_logical_and, broadcast_logical_or, broadcast_logical_xor,
                               broadcast_maximum, broadcast_minimum, broadcast_minus, broadcast_mul,
                               broadcast_not_equal, broadcast_plus, broadcast_power, broadcast_sub, clip,
                               divide, equal, exp, greater, greater_equal, lesser, lesser_equal, log,
                               maximum, minimum, multiply, negative, not_equal, power, sign, sqrt, square,
                               subtract)
from ..ops.indexing import argmax, argmin, one_hot, pick, take
from ..ops.linalg import batch_dot, dot
from ..ops.reduce import max, mean, min, norm, sum
from ..ops.select import argsort, sort, topk, where
from ..ops.shape import (SliceChannel, broadcast_axes, broadcast_axis, broadcast_to, concat, expand_dims,
                         flatten, flip, repeat, reshape, reverse, slice_axis, split, squeeze, stack,
                         swapaxes, tile, transpose)
from . import random
from .io import load, save

__all__ = [
    "NDArray", "array", "zeros", "ones", "full", "arange", "zeros_like", "ones_like", "empty", "random",
    "add", "subtract", "multiply", "divide", "power", "negative", "maximum", "minimum", "equal",
    "not_equal", "greater", "greater_equal", "lesser", "lesser_equal", "exp", "log", "sqrt", "square",
    "abs", "sign", "clip", "relu", "sigmoid", "tanh", "softrelu", "softsign", "softmax", "log_softmax",
    "Activation", "dense", "FullyConnected", "dot", "batch_dot", "sum", "mean", "max", "min",
    "reshape", "transpose", "expand_dims", "squeeze", "flatten", "Flatten", "concat", "stack",
    "swapaxes", "waitall", "norm", "save", "load", "take", "pick", "one_hot", "argmax", "argmin",
    "where", "sort", "argsort", "topk", "split", "SliceChannel", "slice_axis", "broadcast_to",
    "broadcast_axis", "broadcast_axes", "tile", "repeat", "flip", "reverse",
    "broadcast_add", "broadcast_plus", "broadcast_sub", "broadcast_minus", "broadcast_mul", "broadcast_div",
    "broadcast_power", "broadcast_maximum", "broadcast_minimum", "broadcast_equal", "broadcast_not_equal",
    "broadcast_greater", "broadcast_greater_equal", "broadcast_lesser", "broadcast_lesser_equal",
    "broadcast_logical_and", "broadcast_logical_or", "broadcast_logical_xor",
]


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
        return _new(make(xp, shape, dtype), ctx)


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


def FullyConnected(data, weight, bias=None, num_hidden=None, no_bias=False, flatten=True):
    """MXNet's functional dense layer: ``data·weightᵀ + bias``."""
    if num_hidden is not None and weight.shape[0] != num_hidden:
        raise ValueError(f"FullyConnected: num_hidden={num_hidden} but weight has shape {weight.shape}")
    return dense(data, weight, None if no_bias else bias, flatten=flatten)


Flatten = flatten


def waitall():
    """Wait for all pending device work (a no-op on the CPU; synchronizes CuPy devices)."""
    if backend.gpu_count() and not backend.emulation_enabled():
        cupy = backend.cupy_module(Context("gpu", 0))
        for i in range(backend.gpu_count()):
            with cupy.cuda.Device(i):
                cupy.cuda.Device(i).synchronize()
