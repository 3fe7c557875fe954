"""Creating ``gpuparams.np`` arrays: ``array zeros ones full empty arange linspace eye identity``
and their ``*_like`` forms. As in MXNet's ``np``, values without a dtype of their own (lists, Python
numbers, fill values) become float32, the default float."""
from __future__ import annotations

import numpy as _onp

from .. import backend
from ..context import Context, current_context
from .._ndarray import (NDArray, check_fill_value, check_integer_range, copy_to_context, from_backend,
                        numbers_of_objects, python_values)
from ._array import ndarray, np_dtype

__all__ = ["array", "asarray", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "identity",
           "zeros_like", "ones_like", "full_like", "empty_like"]


def _ctx(ctx):
    return Context(ctx) if ctx is not None else current_context()


def _place(host, ctx, dtype, what="np.array"):
    """A new np array on ``ctx`` holding ``host`` (a NumPy array, or backend data already on ``ctx``)
    cast to ``dtype``; values an integer dtype cannot hold are an OverflowError naming ``what``."""
    dtype = np_dtype(dtype)
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        check_integer_range(host, dtype, what)
        data = xp.array(host, dtype=dtype, copy=True)
    return from_backend(data, ctx, ndarray)


def array(object, dtype=None, ctx=None):
    """An np array from a list, a number, a NumPy array or an array (always a copy).

    Lists and numbers become float32 unless ``dtype`` says otherwise (MXNet np's rule); NumPy arrays
    and gpuparams arrays keep their dtype, except object arrays of numbers (pandas columns), which
    become float32 too. ``None``, strings (numeric ones too) and other objects raise an
    :class:`~gpuparams.errors.ArrayConversionError` naming their position, and values an integer
    ``dtype`` cannot hold an ``OverflowError``, as in :func:`gpuparams.nd.array`.
    """
    ctx = _ctx(ctx)
    if isinstance(object, NDArray):
        data = object._data
        if object._ctx is not ctx:
            data = copy_to_context(data, object._ctx, ctx)
        return _place(data, ctx, dtype or data.dtype)
    if isinstance(object, _onp.ndarray):
        if object.dtype.kind == "O":
            return _place(numbers_of_objects(object, dtype, "np.array"), ctx, dtype or "float32")
        return _place(object, ctx, dtype or object.dtype)
    host = python_values(object, "np.array")
    if host.dtype.kind == "O":  # Python ints beyond int64
        host = numbers_of_objects(host, dtype, "np.array")
    if host.dtype.kind not in "biuf":
        raise TypeError(f"np.array: values of dtype {host.dtype} are not numbers")
    return _place(host, ctx, dtype or "float32")


def asarray(a, dtype=None, ctx=None):
    """``a`` itself when it is an np array of that dtype and context, else :func:`array`."""
    if (type(a) is ndarray and (dtype is None or _onp.dtype(dtype) == a.dtype)
            and (ctx is None or Context(ctx) is a._ctx)):
        return a
    return array(a, dtype, ctx)


def _shape(shape):
    shape = (shape,) if isinstance(shape, (int, _onp.integer)) else tuple(shape)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, _onp.integer)) or n < 0:
            raise ValueError(f"shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _filled(shape, dtype, ctx, make):
    ctx = _ctx(ctx)
    dtype = np_dtype("float32" if dtype is None else dtype)
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        return from_backend(make(xp, _shape(shape), dtype), ctx, ndarray)


def zeros(shape, dtype=None, order="C", ctx=None):
    """Zeros of ``shape`` (float32 by default)."""
    return _filled(shape, dtype, ctx, lambda xp, s, d: xp.zeros(s, dtype=d))


def ones(shape, dtype=None, order="C", ctx=None):
    """Ones of ``shape`` (float32 by default)."""
    return _filled(shape, dtype, ctx, lambda xp, s, d: xp.ones(s, dtype=d))


def empty(shape, dtype=None, order="C", ctx=None):
    """An array whose values are undefined until written (zero-filled here, so never garbage)."""
    return zeros(shape, dtype, order, ctx)


def full(shape, fill_value, dtype=None, order="C", ctx=None):
    """``shape`` filled with ``fill_value`` (float32 by default, as in MXNet's np)."""
    if isinstance(fill_value, NDArray):
        fill_value = fill_value.item()
    check_fill_value(fill_value, [np_dtype("float32" if dtype is None else dtype)], "np.full")
    return _filled(shape, dtype, ctx, lambda xp, s, d: xp.full(s, fill_value, dtype=d))


def arange(start, stop=None, step=1, dtype=None, ctx=None):
    """Evenly spaced values in ``[start, stop)`` (float32 by default, as in MXNet's np)."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    values = _onp.arange(start, stop, step) if stop is not None else _onp.arange(start)
    return _place(values, _ctx(ctx), "float32" if dtype is None else dtype, "np.arange")


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, ctx=None):
    """``num`` evenly spaced values from ``start`` to ``stop`` (float32 by default)."""
    if isinstance(num, bool) or not isinstance(num, (int, _onp.integer)) or num < 0:
        raise ValueError(f"linspace: num must be a non-negative int, got {num!r}")
    if axis != 0:
        raise NotImplementedError("linspace: only axis=0 is supported")
    values, step = _onp.linspace(start, stop, int(num), endpoint=endpoint, retstep=True)
    out = _place(values, _ctx(ctx), "float32" if dtype is None else dtype, "np.linspace")
    return (out, step) if retstep else out


def eye(N, M=None, k=0, dtype=None, ctx=None):
    """An ``N x M`` array with ones on diagonal ``k``."""
    return _place(_onp.eye(N, M, k), _ctx(ctx), "float32" if dtype is None else dtype)


def identity(n, dtype=None, ctx=None):
    """The ``n x n`` identity matrix."""
    return eye(n, dtype=dtype, ctx=ctx)


def _like(a, dtype, what):
    if not isinstance(a, NDArray):
        raise TypeError(f"{what}: a must be an array, got {type(a).__name__}")
    return a.shape, (a.dtype if dtype is None else dtype), a._ctx


def zeros_like(a, dtype=None):
    """Zeros with ``a``'s shape, dtype and context (not recorded)."""
    shape, dtype, ctx = _like(a, dtype, "zeros_like")
    return zeros(shape, dtype, ctx=ctx)


def ones_like(a, dtype=None):
    """Ones with ``a``'s shape, dtype and context (not recorded)."""
    shape, dtype, ctx = _like(a, dtype, "ones_like")
    return ones(shape, dtype, ctx=ctx)


def empty_like(a, dtype=None):
    """An array with ``a``'s shape, dtype and context (zero-filled)."""
    shape, dtype, ctx = _like(a, dtype, "empty_like")
    return zeros(shape, dtype, ctx=ctx)


def full_like(a, fill_value, dtype=None):
    """``fill_value`` with ``a``'s shape, dtype and context."""
    shape, dtype, ctx = _like(a, dtype, "full_like")
    return full(shape, fill_value, dtype, ctx=ctx)
