"""Random arrays (``nd.random.uniform``, ``normal``, ``randn``, ``randint`` ...) drawn from the seeded
host generator.

As MXNet 1.9.1: the parameters are numbers (``shape`` is the sample shape, ``(1,)`` by default) or
NDArrays of one shape (``shape`` is appended: the result has shape ``params.shape + shape``), and
``out=`` writes the samples into a given array.
"""
from __future__ import annotations

import numpy as np

from .. import random as _random
from .._ndarray import from_data, normalize_dtype
from .._unsupported import module_getattr as _module_getattr
from .distributions import _check, _finish, _params, _written
from .distributions import exponential, gamma, multinomial, negative_binomial, poisson

__all__ = ["uniform", "normal", "randn", "randint", "shuffle", "multinomial", "poisson", "exponential",
           "gamma", "negative_binomial"]


def _shape(shape):
    if shape is None:
        return (1,)
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _float_dtype(dtype):
    dt = normalize_dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"random floats need a float dtype, got {dt.name}")
    return dt


def uniform(low=0.0, high=1.0, shape=None, dtype=None, ctx=None, out=None):
    """Uniform samples in ``[low, high)``.

    Parameters
    ----------
    low, high : float or NDArray
        The range: numbers, or NDArrays of one shape (one range per element).
    shape : int or tuple, optional
        The sample shape (default ``(1,)`` for numbers), appended to an NDArray parameter's shape.
    dtype : str, optional
        A float dtype (default float32).
    ctx : Context, optional
        Where to put the result (default: the current context, or the parameter array's).
    out : NDArray, optional
        Written with the samples and returned.
    """
    p, size, ctx = _params("uniform", {"low": low, "high": high}, shape, ctx)
    _check("uniform", np.asarray(p["high"]) >= np.asarray(p["low"]),
           f"high={high} is below low={low}" if np.ndim(p["low"]) == 0 else
           f"high is below low at {int((np.asarray(p['high']) < np.asarray(p['low'])).sum())} of "
           f"{np.size(p['low'])} positions of the parameter arrays")
    return _finish(_random.generator().uniform(p["low"], p["high"], size=size), _float_dtype(dtype), ctx,
                   out)


def normal(loc=0.0, scale=1.0, shape=None, dtype=None, ctx=None, out=None):
    """Normal samples with mean ``loc`` and standard deviation ``scale`` (numbers or NDArrays of one
    shape; see :func:`uniform`)."""
    p, size, ctx = _params("normal", {"loc": loc, "scale": scale}, shape, ctx)
    _check("normal", np.asarray(p["scale"]) >= 0,
           f"scale must be non-negative, got {scale}" if np.ndim(p["scale"]) == 0 else
           "scale must be non-negative, got a negative element in the scale array")
    return _finish(_random.generator().normal(p["loc"], p["scale"], size=size), _float_dtype(dtype), ctx,
                   out)


def randn(*shape, loc=0.0, scale=1.0, dtype=None, ctx=None, out=None):
    """Normal samples of shape ``shape`` given as separate ints (``randn(2, 3)``), as MXNet's
    ``nd.random.randn``; :func:`normal` with ``loc`` and ``scale``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return normal(loc, scale, shape or None, dtype=dtype, ctx=ctx, out=out)


def randint(low, high, shape=None, dtype="int32", ctx=None, out=None):
    """Random integers in ``[low, high)`` (``out=``: written into that array and returned)."""
    dt = normalize_dtype(dtype)
    _random.check_integer_bounds(low, high, dt, "nd.random.randint")
    values = _random.generator().integers(low, high, size=_shape(shape))
    # The int64 draws go to from_data uncast, so that a range the dtype cannot hold (0..300 in int8)
    # is an OverflowError rather than wrapped-around samples.
    return _written(from_data(values, ctx=ctx, dtype=dt, what="nd.random.randint"), out)


def shuffle(data):
    """A copy of ``data`` with its first axis shuffled."""
    order = _random.generator().permutation(data.shape[0])
    return from_data(data.asnumpy()[order], ctx=data.context)


# A sampler MXNet has and we lack (generalized_negative_binomial, uniform_like ...) says so.
__getattr__ = _module_getattr(globals(), "nd.random")
