"""The ``nd`` namespace: creating arrays and the functional form of every operator (MXNet's ``mx.nd``).

The operators come from the registry (:data:`gpuparams.ops.REGISTRY`); this module adds the
functions that create arrays.
"""
from __future__ import annotations

import numpy as _np

from .. import backend
from ..context import Context, current_context
from .._ndarray import NDArray, check_fill_value, from_backend, from_data, normalize_dtype, python_values
from . import random
from .io import load, save

from ..ops import public_ops as _public_ops
from .._unsupported import module_getattr as _module_getattr

# The creation functions defined here; every registered public operator is added at the end.
__all__ = ["NDArray", "array", "zeros", "ones", "full", "arange", "linspace", "eye", "zeros_like",
           "ones_like", "empty",
           "random", "waitall", "save", "load"]


def array(source_array, ctx=None, dtype=None):
    """Create an array from a list, NumPy array, scalar or NDArray (always copies).

    As in MXNet 1.x, the dtype defaults to the source's dtype when the source is an NDArray and to
    float32 for everything else (NumPy arrays included); pass ``dtype`` to keep another one. A NumPy
    object array of numbers or bools (pandas 2's dummy columns) converts to float32 as well.

    Nothing becomes a wrong number: ``None``, strings (numeric ones too, ``'2'``) and other objects,
    in a list or an object array, raise an :class:`~gpuparams.errors.ArrayConversionError` naming
    their position; values an integer ``dtype`` cannot hold raise an ``OverflowError`` naming the
    value and the dtype's range (``astype`` is the unchecked, wrapping cast).

    A 0-d NumPy array (or 0-d NDArray) keeps shape ``()``, as in MXNet. Where we differ: a Python
    scalar gives shape ``(1,)`` (MXNet 1.9.1 gives ``()``), the shape every operator gives a single
    element.
    """
    # Decided on the source as given: a Python scalar, a 0-d array once checked, still gives (1,).
    keep_0d = isinstance(source_array, (_np.ndarray, NDArray)) and source_array.ndim == 0
    if not isinstance(source_array, (NDArray, _np.ndarray)) and not backend.is_cupy_array(source_array):
        source_array = python_values(source_array, "nd.array")
    if dtype is None and not isinstance(source_array, NDArray):
        kind = getattr(getattr(source_array, "dtype", None), "kind", "f")
        if kind in "cSUVMm":  # complex, strings, dates: no sensible float32 value
            normalize_dtype(source_array.dtype, what="source dtype")
        dtype = "float32"
    return from_data(source_array, ctx=ctx, dtype=dtype, keep_0d=keep_0d)


def _filled(shape, ctx, dtype, make):
    ctx = Context(ctx) if ctx is not None else current_context()
    dtype = normalize_dtype("float32" if dtype is None else dtype)
    shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
    if any((not isinstance(n, (int, _np.integer))) or n < 0 for n in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape}")
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        return from_backend(make(xp, shape, dtype), ctx)


def _into(out, arr, name):
    """MXNet's ``out=`` of the creation functions: write ``arr`` into ``out`` and return ``out``."""
    if out is None:
        return arr
    if not isinstance(out, NDArray):
        raise TypeError(f"{name}: out must be an NDArray, got {type(out).__name__}")
    if out.shape != arr.shape:
        raise ValueError(f"{name}: out has shape {out.shape} but the new array has shape {arr.shape}")
    out[:] = arr if arr.context is out.context else arr.as_in_context(out.context)
    return out


def zeros(shape, ctx=None, dtype=None, out=None):
    """An array of zeros (float32 by default) on ``ctx`` (default: the current context); with
    ``out=`` the zeros are written into that array, which is returned."""
    return _into(out, _filled(shape, ctx if out is None or ctx else out.context, dtype,
                              lambda xp, s, d: xp.zeros(s, dtype=d)), "zeros")


def empty(shape, ctx=None, dtype=None):
    """An array whose contents are undefined until written (zero-filled here for safety)."""
    return zeros(shape, ctx, dtype)


def ones(shape, ctx=None, dtype=None, out=None):
    """An array of ones (``out=``: written into that array, see :func:`zeros`)."""
    return _into(out, _filled(shape, ctx if out is None or ctx else out.context, dtype,
                              lambda xp, s, d: xp.ones(s, dtype=d)), "ones")


def full(shape, val, ctx=None, dtype=None, out=None):
    """An array filled with ``val`` (``out=``: written into that array, see :func:`zeros`).

    A ``val`` that the integer dtype (or ``out``'s dtype) cannot hold is an ``OverflowError`` naming
    it, not a wrapped-around fill (300 in int8); ``out`` is left as it was.
    """
    dtypes = [normalize_dtype("float32" if dtype is None else dtype)]
    if isinstance(out, NDArray):
        dtypes.append(out.dtype)
    check_fill_value(val, dtypes, "nd.full")
    return _into(out, _filled(shape, ctx if out is None or ctx else out.context, dtype,
                              lambda xp, s, d: xp.full(s, val, dtype=d)), "full")


def arange(start, stop=None, step=1.0, repeat=1, ctx=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (float32 by default, as in MXNet)."""
    values = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    if repeat != 1:
        values = _np.repeat(values, repeat)
    return from_data(values, ctx=ctx, dtype="float32" if dtype is None else dtype, what="nd.arange")


def linspace(start, stop, num, endpoint=True, ctx=None, dtype=None):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included unless ``endpoint=False``),
    float32 by default, as MXNet's ``nd.linspace``. Integer dtypes truncate the values."""
    if isinstance(num, bool) or not isinstance(num, (int, _np.integer)) or num < 0:
        raise ValueError(f"linspace: num must be a non-negative int, got {num!r}")
    values = _np.linspace(start, stop, int(num), endpoint=bool(endpoint), dtype=_np.float64)
    return from_data(values, ctx=ctx, dtype="float32" if dtype is None else dtype, what="nd.linspace")


def eye(N, M=0, k=0, ctx=None, dtype=None, out=None):
    """An ``N x M`` array (``M = 0``: square) with ones on diagonal ``k`` (above the main one for
    ``k > 0``), float32 by default, as MXNet's ``nd.eye``; ``out=`` as in :func:`zeros`."""
    for name, value in (("N", N), ("M", M), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, _np.integer)):
            raise TypeError(f"eye: {name} must be an int, got {value!r}")
    if N < 0 or M < 0:
        raise ValueError(f"eye: N and M must be non-negative, got N={N}, M={M}")
    values = _np.eye(int(N), int(M) or int(N), int(k))
    arr = from_data(values, ctx=ctx if out is None or ctx else out.context,
                    dtype="float32" if dtype is None else dtype)
    return _into(out, arr, "eye")


def zeros_like(data, out=None):
    """Zeros with the shape, dtype and context of ``data`` (``out=``: written into that array)."""
    return zeros(data.shape, ctx=data.context, dtype=data.dtype, out=out)


def ones_like(data, out=None):
    """Ones with the shape, dtype and context of ``data`` (``out=``: written into that array)."""
    return ones(data.shape, ctx=data.context, dtype=data.dtype, out=out)


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

# MXNet 1.x's legacy names for the random samplers (``nd.uniform`` is ``nd.random.uniform``). Where we
# differ: MXNet 1.9.1's legacy ``nd.uniform()`` needs ``shape=``; these default to (1,) like nd.random.
uniform = random_uniform = random.uniform
normal = random_normal = random.normal
__all__ += ["uniform", "random_uniform", "normal", "random_normal"]

# A name MXNet has and we do not (nd.foo) says it is not supported yet instead of a bare AttributeError.
# MXNet's ``F.np`` / ``F.npx`` inside ``hybrid_forward(self, F, x)`` (F is this module, as in MXNet):
# the NumPy interface, imported on first use; any other missing name says it is not supported yet.
from .._lazy import lazy_attributes as _lazy_attributes  # noqa: E402

_lazy_getattr, __dir__ = _lazy_attributes(globals(), {"np": ("gpuparams.np", None),
                                                      "npx": ("gpuparams.npx", None)})
_missing_getattr = _module_getattr(globals(), "nd")


def __getattr__(name):
    if name in ("np", "npx"):
        return _lazy_getattr(name)
    return _missing_getattr(name)
