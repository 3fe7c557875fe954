"""Random arrays (``nd.random.uniform``, ``normal``, ``randint``) drawn from the seeded host generator."""
from __future__ import annotations

import numpy as np

from .. import random as _random
from .._ndarray import from_data, normalize_dtype
from .distributions import exponential, gamma, multinomial, negative_binomial, poisson

__all__ = ["uniform", "normal", "randint", "shuffle", "multinomial", "poisson", "exponential", "gamma",
           "negative_binomial"]


def _shape(shape):
    if shape is None:
        return (1,)
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _float_dtype(dtype):
    dt = normalize_dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"random floats need a float dtype, got {dt.name}")
    return dt


def uniform(low=0.0, high=1.0, shape=None, dtype=None, ctx=None):
    """Uniform samples in ``[low, high)``.

    Parameters
    ----------
    low, high : float
        The range.
    shape : int or tuple, optional
        Output shape (default ``(1,)``).
    dtype : str, optional
        A float dtype (default float32).
    ctx : Context, optional
        Where to put the result (default: the current context).
    """
    if high < low:
        raise ValueError(f"uniform: high={high} is below low={low}")
    dt = _float_dtype(dtype)
    values = _random.generator().uniform(low, high, size=_shape(shape))
    return from_data(values.astype(dt), ctx=ctx)


def normal(loc=0.0, scale=1.0, shape=None, dtype=None, ctx=None):
    """Normal samples with mean ``loc`` and standard deviation ``scale`` (see :func:`uniform`)."""
    if scale < 0:
        raise ValueError(f"normal: scale must be non-negative, got {scale}")
    dt = _float_dtype(dtype)
    values = _random.generator().normal(loc, scale, size=_shape(shape))
    return from_data(values.astype(dt), ctx=ctx)


def randint(low, high, shape=None, dtype="int32", ctx=None):
    """Random integers in ``[low, high)``."""
    dt = normalize_dtype(dtype)
    values = _random.generator().integers(low, high, size=_shape(shape))
    return from_data(values.astype(dt), ctx=ctx)


def shuffle(data):
    """A copy of ``data`` with its first axis shuffled."""
    order = _random.generator().permutation(data.shape[0])
    return from_data(data.asnumpy()[order], ctx=data.context)
