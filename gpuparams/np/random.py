"""``np.random``: NumPy-style sampling (``seed uniform normal randint choice shuffle multinomial``)
from the one seeded host generator (:mod:`gpuparams.random`), so ``np.random.seed(n)`` and
``gp.random.seed(n)`` are the same seed and values are identical on every context."""
from __future__ import annotations

import numpy as _onp

from .. import random as _random
from .._ndarray import NDArray
from ._array import np_dtype
from ._creation import _ctx, _place

__all__ = ["seed", "uniform", "normal", "randint", "choice", "shuffle", "multinomial", "rand", "randn"]


def seed(seed):
    """Reseed the shared generator (a non-negative int)."""
    _random.seed(seed)


def _size(size):
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, _onp.integer)) else tuple(int(n) for n in size)


def _float(dtype, what):
    dt = np_dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{what}: dtype must be a float dtype, got {dt.name}")
    return dt


def _number(value, what):
    if isinstance(value, NDArray):
        raise TypeError(f"{what} must be a number here (array-valued parameters are not supported)")
    return value


def uniform(low=0.0, high=1.0, size=None, dtype=None, ctx=None):
    """Samples from ``[low, high)`` of shape ``size`` (a 0-d array when None; float32 by default)."""
    low, high = _number(low, "uniform: low"), _number(high, "uniform: high")
    values = _random.generator().uniform(low, high, size=_size(size))
    return _place(values, _ctx(ctx), _float(dtype, "uniform"))


def normal(loc=0.0, scale=1.0, size=None, dtype=None, ctx=None):
    """Normal samples with mean ``loc`` and standard deviation ``scale`` (``scale >= 0``)."""
    loc, scale = _number(loc, "normal: loc"), _number(scale, "normal: scale")
    if scale < 0:
        raise ValueError(f"normal: scale must be non-negative, got {scale}")
    values = _random.generator().normal(loc, scale, size=_size(size))
    return _place(values, _ctx(ctx), _float(dtype, "normal"))


def rand(*size):
    """Uniform samples in ``[0, 1)`` of shape ``size``."""
    return uniform(size=size or None)


def randn(*size):
    """Standard normal samples of shape ``size``."""
    return normal(size=size or None)


def randint(low, high=None, size=None, dtype=None, ctx=None):
    """Integers in ``[low, high)`` (``[0, low)`` when ``high`` is None); int64 by default (MXNet)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high={high} must be larger than low={low}")
    dt = np_dtype("int64" if dtype is None else dtype)
    _random.check_integer_bounds(low, high, dt, "np.random.randint")
    values = _random.generator().integers(low, high, size=_size(size))
    return _place(values, _ctx(ctx), dt, "np.random.randint")


def choice(a, size=None, replace=True, p=None, ctx=None):
    """Samples from ``arange(a)`` (an int) or from the 1-D array ``a``, optionally with weights ``p``."""
    gen = _random.generator()
    if isinstance(a, NDArray):
        if a.ndim != 1:
            raise ValueError(f"choice: a must be 1-D, got shape {a.shape}")
        pool, dtype = a.asnumpy(), a.dtype
        ctx = a._ctx if ctx is None else ctx
    else:
        if isinstance(a, bool) or not isinstance(a, (int, _onp.integer)) or a <= 0:
            raise ValueError(f"choice: a must be a positive int or a 1-D array, got {a!r}")
        pool, dtype = int(a), _onp.dtype(_onp.int64)
    if p is not None:
        p = _onp.asarray(p.asnumpy() if isinstance(p, NDArray) else p, dtype=_onp.float64)
        if p.ndim != 1 or abs(p.sum() - 1) > 1e-6 or (p < 0).any():
            raise ValueError("choice: p must be 1-D, non-negative and sum to 1")
    values = gen.choice(pool, size=_size(size), replace=replace, p=p)
    return _place(_onp.asarray(values), _ctx(ctx), dtype)


def shuffle(x):
    """Shuffle ``x`` in place along its first axis (returns None, as NumPy's)."""
    if not isinstance(x, NDArray):
        raise TypeError(f"shuffle: x must be an array, got {type(x).__name__}")
    order = _random.generator().permutation(x.shape[0])
    x[:] = x.asnumpy()[order]


def multinomial(n, pvals, size=None):
    """Counts (int64) of ``n`` draws over the categories ``pvals``; shape ``size + (len(pvals),)``."""
    if isinstance(n, bool) or not isinstance(n, (int, _onp.integer)) or n < 0:
        raise ValueError(f"multinomial: n must be a non-negative int, got {n!r}")
    p = _onp.asarray(pvals.asnumpy() if isinstance(pvals, NDArray) else pvals, dtype=_onp.float64)
    if p.ndim != 1 or (p < 0).any() or p.sum() > 1 + 1e-6:
        raise ValueError("multinomial: pvals must be 1-D, non-negative, with a sum of at most 1")
    values = _random.generator().multinomial(int(n), p, size=_size(size) or None)
    return _place(_onp.asarray(values), _ctx(None), "int64")
